// Fonts are files inside the bundle (from @fontsource/inter), never fetched at render time.
import { cancelRender, continueRender, delayRender } from "remotion";
import inter600 from "@fontsource/inter/files/inter-latin-600-normal.woff2";
import inter800 from "@fontsource/inter/files/inter-latin-800-normal.woff2";

export const FONT_FAMILY = "Inter, 'DejaVu Sans', sans-serif";

const FACES: Array<[string, string]> = [
  ["600", inter600],
  ["800", inter800],
];

let loading: Promise<void> | null = null;

export const loadFonts = (): void => {
  if (loading || typeof FontFace === "undefined") return;
  const handle = delayRender("Loading bundled Inter font");
  loading = Promise.all(
    FACES.map(async ([weight, url]) => {
      const face = new FontFace("Inter", `url(${url}) format("woff2")`, { weight });
      (document.fonts as unknown as { add(f: FontFace): void }).add(await face.load());
    }),
  )
    .then(() => continueRender(handle))
    .catch((err) => cancelRender(err));
};
