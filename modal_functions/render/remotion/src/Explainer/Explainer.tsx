import React from "react";
import { AbsoluteFill, Sequence, useVideoConfig } from "remotion";
import { loadFonts } from "../fonts";
import { Captions } from "./Captions";
import { BACKGROUND } from "./constants";
import { msToFrame } from "./dimensions";
import { SceneImage } from "./SceneImage";
import { Soundtrack } from "./Soundtrack";
import { TitleCard } from "./TitleCard";
import type { ExplainerProps } from "./schema";

export { explainerSchema } from "./schema";

loadFonts();

// An explainer video driven entirely by its props (a timeline): scenes with Ken Burns
// moves and transitions, a title card, narration, ducked music and highlighted captions.
export const Explainer: React.FC<ExplainerProps> = (props) => {
  const { fps } = useVideoConfig();
  const transitionFrames = msToFrame(props.transitionMs, fps);
  return (
    <AbsoluteFill style={{ backgroundColor: BACKGROUND }}>
      {props.scenes.map((scene, i) => {
        const from = msToFrame(scene.startMs, fps);
        const sceneFrames = Math.max(1, msToFrame(scene.endMs, fps) - from);
        const next = props.scenes[i + 1];
        // Stay under the next scene while it transitions in.
        const overlap =
          next && next.transition !== "cut" && msToFrame(next.startMs, fps) === from + sceneFrames
            ? transitionFrames
            : 0;
        return (
          <Sequence key={i} from={from} durationInFrames={sceneFrames + overlap} premountFor={fps}>
            <SceneImage scene={scene} sceneFrames={sceneFrames} transitionFrames={i === 0 ? 0 : transitionFrames} />
          </Sequence>
        );
      })}
      {props.title && props.titleMs > 0 ? (
        <Sequence durationInFrames={Math.max(1, msToFrame(props.titleMs, fps))}>
          <TitleCard title={props.title} titleFrames={Math.max(1, msToFrame(props.titleMs, fps))} />
        </Sequence>
      ) : null}
      <Captions captions={props.captions} highlightColor={props.highlightColor} />
      <Soundtrack
        narration={props.narration}
        music={props.music}
        musicVolume={props.musicVolume}
        musicDuckedVolume={props.musicDuckedVolume}
        captions={props.captions}
      />
    </AbsoluteFill>
  );
};
