import React from "react";
import { AbsoluteFill, Img, interpolate, useCurrentFrame } from "remotion";
import type { SceneProps } from "./schema";

// One scene: the image fills the frame and moves from `kenBurnsFrom` to
// `kenBurnsTo` over the scene (zoom around the framing's centre point).
// The scene enters with its own transition over `transitionFrames`.
export const SceneImage: React.FC<{
  scene: SceneProps;
  sceneFrames: number;
  transitionFrames: number;
}> = ({ scene, sceneFrames, transitionFrames }) => {
  const frame = useCurrentFrame();
  const t = interpolate(frame, [0, Math.max(1, sceneFrames)], [0, 1], {
    extrapolateLeft: "clamp",
    extrapolateRight: "clamp",
  });
  const from = scene.kenBurnsFrom;
  const to = scene.kenBurnsTo;
  const zoom = from.zoom + (to.zoom - from.zoom) * t;
  const x = from.x + (to.x - from.x) * t;
  const y = from.y + (to.y - from.y) * t;

  const enter =
    scene.transition === "cut" || transitionFrames <= 0
      ? 1
      : interpolate(frame, [0, transitionFrames], [0, 1], {
          extrapolateLeft: "clamp",
          extrapolateRight: "clamp",
        });
  const opacity = scene.transition === "fade" ? enter : 1;
  const slide = scene.transition === "slide" ? (1 - enter) * 100 : 0;

  return (
    // overflow hidden: the zoomed image is cut at the scene's edge, so a scene sliding in shows
    // only as far as its slide has come, not its enlarged image past that edge
    <AbsoluteFill style={{ opacity, overflow: "hidden", transform: slide ? `translateX(${slide}%)` : undefined }}>
      <Img
        src={scene.image}
        style={{
          width: "100%",
          height: "100%",
          objectFit: "cover",
          transformOrigin: `${x * 100}% ${y * 100}%`,
          transform: `scale(${zoom})`,
        }}
      />
    </AbsoluteFill>
  );
};
