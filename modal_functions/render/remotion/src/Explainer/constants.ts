// Tunable values of the Explainer composition, in one place.

/** Pages of captions: words starting within this window share a page. */
export const CAPTION_COMBINE_WITHIN_MS = 1200;
/**
 * A silence this long or longer between two words is a pause: it clears the highlight at
 * the word's end and the next word starts a new caption page. A shorter silence is bridged:
 * the word stays highlighted, and its page on screen, until the next word starts.
 */
export const CAPTION_PAUSE_MS = 300;
/** Caption font size as a share of the frame's short side. */
export const CAPTION_FONT_SCALE = 0.065;
/** Caption block bottom offset as a share of the frame height. */
export const CAPTION_BOTTOM = 0.1;
/**
 * The same in portrait (9:16): Shorts, Reels and TikTok lay their title, account and
 * buttons over the bottom fifth or so of a vertical video, so captions sit above that.
 */
export const CAPTION_BOTTOM_PORTRAIT = 0.25;
export const CAPTION_TEXT_COLOR = "#FFFFFF";
export const CAPTION_ACTIVE_TEXT_COLOR = "#111111";

export const TITLE_FONT_SCALE = 0.09;
export const TITLE_FADE_MS = 400;

/** Music ramps down/up this long around each spoken word. */
export const DUCK_RAMP_MS = 250;

export const BACKGROUND = "#000000";
