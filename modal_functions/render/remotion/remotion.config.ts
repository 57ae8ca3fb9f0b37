// Config for `npx remotion` (Studio and the bench's plain-CLI baseline).
// Offline: Debian chromium, never a downloaded browser.
import { Config } from "@remotion/cli/config";

Config.setBrowserExecutable("/usr/bin/chromium");
Config.setChromeMode("headless-shell");
Config.setEntryPoint("src/index.ts");
