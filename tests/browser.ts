// The browser the page tests drive: Debian's Chromium (`apt-get install
// chromium`), through playwright-core; CHROMIUM overrides the path.
import { type Browser, chromium } from "playwright-core";

/** Path of the Chromium executable. */
export const CHROMIUM: string = Deno.env.get("CHROMIUM") ?? "/usr/bin/chromium";

/** A headless Chromium. */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM, headless: true });
}
