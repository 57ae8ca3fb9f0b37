// Input props of the Explainer composition. Mirrors the pydantic `Timeline` in
// modal_functions/contract/render.py field for field (camelCase passes straight
// through); tests/render/test_schema_parity.py keeps the two in line.
import { z } from "zod";

export const framingSchema = z.strictObject({
  zoom: z.number().min(1).max(4).default(1),
  x: z.number().min(0).max(1).default(0.5),
  y: z.number().min(0).max(1).default(0.5),
});

export const sceneSchema = z.strictObject({
  image: z.string().min(1).max(4096),
  startMs: z.number().min(0),
  endMs: z.number().gt(0),
  kenBurnsFrom: framingSchema.default({ zoom: 1, x: 0.5, y: 0.5 }),
  kenBurnsTo: framingSchema.default({ zoom: 1.15, x: 0.5, y: 0.5 }),
  transition: z.enum(["cut", "fade", "slide"]).default("fade"),
});

// Remotion's Caption (@remotion/captions), times in milliseconds.
export const captionSchema = z.strictObject({
  text: z.string(),
  startMs: z.number(),
  endMs: z.number(),
  timestampMs: z.number().nullable().default(null),
  confidence: z.number().nullable().default(null),
});

export const explainerSchema = z.strictObject({
  aspectRatio: z.enum(["16:9", "9:16", "1:1"]).default("16:9"),
  resolution: z.union([z.literal(360), z.literal(480), z.literal(720), z.literal(1080)]).default(720),
  fps: z.union([z.literal(24), z.literal(25), z.literal(30), z.literal(60)]).default(30),
  durationMs: z.number().gt(0).max(900000),
  title: z.string().max(200).nullable().default(null),
  titleMs: z.number().min(0).max(60000).default(3000),
  scenes: z.array(sceneSchema).min(1).max(500),
  transitionMs: z.number().min(0).max(5000).default(500),
  narration: z.string().max(4096).nullable().default(null),
  captions: z.array(captionSchema).max(20000).default([]),
  music: z.string().max(4096).nullable().default(null),
  musicVolume: z.number().min(0).max(1).default(0.25),
  musicDuckedVolume: z.number().min(0).max(1).default(0.08),
  highlightColor: z.string().regex(/^#[0-9a-fA-F]{6}$/).default("#FFD400"),
  degraded: z.boolean().default(false),
});

export type ExplainerProps = z.infer<typeof explainerSchema>;
export type Framing = z.infer<typeof framingSchema>;
export type SceneProps = z.infer<typeof sceneSchema>;
