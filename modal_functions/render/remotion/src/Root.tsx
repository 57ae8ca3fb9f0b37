import React from "react";
import { Composition } from "remotion";
import { Explainer } from "./Explainer/Explainer";
import { calculateExplainerMetadata } from "./Explainer/calculate-metadata";
import { defaultExplainerProps } from "./Explainer/default-props";
import { explainerSchema } from "./Explainer/schema";

export const RemotionRoot: React.FC = () => {
  return (
    <Composition
      id="Explainer"
      component={Explainer}
      schema={explainerSchema}
      defaultProps={defaultExplainerProps}
      calculateMetadata={calculateExplainerMetadata}
      // Placeholders: calculateMetadata derives the real values from the props.
      width={1280}
      height={720}
      fps={30}
      durationInFrames={30}
    />
  );
};
