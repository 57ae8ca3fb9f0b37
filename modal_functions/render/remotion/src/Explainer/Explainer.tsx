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
  const framesOf = (i: number) => {
    const from = msToFrame(props.scenes[i].startMs, fps);
    return { from, sceneFrames: Math.max(1, msToFrame(props.scenes[i].endMs, fps) - from) };
  };
  // A scene enters over transitionMs, or over its whole length when it is shorter: it is then
  // whole when the next scene enters over it, and never three pictures blend in one frame.
  const entryFrames = (i: number) => (i === 0 ? 0 : Math.min(transitionFrames, framesOf(i).sceneFrames));
  return (
    <AbsoluteFill style={{ backgroundColor: BACKGROUND }}>
      {props.scenes.map((scene, i) => {
        const { from, sceneFrames } = framesOf(i);
        const next = props.scenes[i + 1];
        // Stay under the next scene while it transitions in.
        const overlap =
          next && next.transition !== "cut" && msToFrame(next.startMs, fps) === from + sceneFrames
            ? entryFrames(i + 1)
            : 0;
        return (
          <Sequence key={i} from={from} durationInFrames={sceneFrames + overlap} premountFor={fps}>
            <SceneImage scene={scene} sceneFrames={sceneFrames} transitionFrames={entryFrames(i)} />
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
