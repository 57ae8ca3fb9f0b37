// The sidecar's open browsers: one per frame rendered at once, one tab each.
//
// Remotion renders `concurrency` frames at once in that many tabs of ONE browser. On
// this machine's 2 cores a second tab there made renders slower (1080p 8.7 fps against
// 10.2 for one tab): the tabs share the browser's GPU and browser processes, where
// compositing, readback and the JPEG screenshot encode happen, and Remotion keeps
// bringing one or the other to the front. One tab in each of two browsers renders the
// same frames at 14.2 fps (1080p) and 20.2 (720p) against 10.2 and 13.8, into the same
// single encoder: the MP4 is byte-identical (docs/render.md, "Browsers").
//
// `browserSet.instance(used)` is what renderMedia gets as `puppeteerInstance`: Remotion asks
// it for a page per tab (`newPage({pageIndex})`), so page i opens in browser i % n.
// It also lists the pages (to cycle tabs to the front) and closes it when it replaces a
// crashed browser; both reach every browser.

const CHECK_MS = 5000; // a live browser answers in milliseconds, even mid-render
const ENSURE_PASSES = 3;

// Whether a browser still answers. Remotion's connection never marks itself closed (a
// `_closed` flag read here was always undefined, so a dead browser passed for a live one),
// and a call on a closed socket never settles: look at the socket, then ask for the
// browser's version with a deadline.
export const answers = async (browser) => {
  if (browser?.connection.transport.websocket.readyState !== 1) return false; // 1: OPEN
  let timer;
  try {
    return await Promise.race([
      browser.connection.send("Browser.getVersion").then(() => true),
      new Promise((resolve) => {
        timer = setTimeout(() => resolve(false), CHECK_MS);
      }),
    ]);
  } catch {
    return false;
  } finally {
    clearTimeout(timer);
  }
};

const closeBounded = (browser) =>
  // a dead browser's close() also asks the dead connection for its pages: bounded
  Promise.race([browser?.close({ silent: true }).catch(() => {}), new Promise((r) => setTimeout(r, 2000))]);

export const allAnswer = async (list) => (await Promise.all(list.map(answers))).every(Boolean);

/**
 * @param open    () => Promise<HeadlessBrowser>: opens one browser
 * @param onGone  (browser) => void: its DevTools socket closed while it was one of ours
 */
export const makeBrowserSet = ({ open, onGone }) => {
  const browsers = [];
  let deaths = 0; // browsers of ours that died, ever: ensure() checks again if one died under it

  const watch = (browser) => {
    browser.connection.transport.websocket.addEventListener("close", () => {
      if (!browsers.includes(browser)) return; // replaced or closed by us
      deaths += 1;
      onGone(browser);
    });
  };

  const openAt = async (i) => {
    const browser = await open();
    browsers[i] = browser;
    watch(browser);
  };

  return {
    get size() {
      return browsers.filter(Boolean).length;
    },

    // Every browser we keep (at least `count`) open and answering: a dead one is closed and
    // replaced, missing ones are opened, all at once. One that died while the others were
    // checked or opened is caught by another pass, so when this returns all of them had
    // answered and none has died since (the caller takes them with no await in between).
    async ensure(count, log = () => {}) {
      for (let pass = 1; ; pass++) {
        const before = deaths;
        await Promise.all(
          Array.from({ length: Math.max(count, browsers.length) }, async (_, i) => {
            if (await answers(browsers[i])) return;
            const dead = browsers[i];
            browsers[i] = null;
            if (dead) {
              log(`browser ${i} does not answer: opening a new one`);
              await closeBounded(dead);
            }
            await openAt(i);
          }),
        );
        if (deaths === before) return;
        // browsers that keep dying as they open (no memory left): the caller's failure path
        if (pass >= ENSURE_PASSES) throw new Error(`browsers kept dying: ${deaths - before} in the last pass`);
        log("a browser died while the others were checked: checking them again");
      }
    },

    // The first `count` browsers (after ensure(count)).
    take(count) {
      return browsers.slice(0, count);
    },

    // What renderMedia takes as `puppeteerInstance` for tabs in `used` (one each).
    instance(used) {
      if (used.length === 1) return used[0];
      return {
        newPage: (options) => used[(options?.pageIndex ?? 0) % used.length].newPage(options),
        pages: async () => (await Promise.all(used.map((b) => b.pages()))).flat(),
        close: async (options) => {
          await Promise.all(used.map((b) => b.close(options)));
        },
      };
    },

    async closeAll() {
      const open = browsers.splice(0);
      await Promise.all(open.map(closeBounded));
    },
  };
};
