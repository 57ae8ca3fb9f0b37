"""Prompt + style -> the text sent to the model. The aspect ratio is NOT text: it goes in ImageConfig."""

from __future__ import annotations

from ..contract.images import ImageStyle


def compose_prompt(prompt: str, style: ImageStyle) -> str:
    lines = [prompt.strip()]
    if style.art_style.strip():
        lines.append(f"Art style: {style.art_style.strip()}.")
    if style.palette:
        lines.append(f"Colour palette: {', '.join(c.lower() for c in style.palette)}.")
    if style.avoid:
        lines.append(f"Do not include: {'; '.join(style.avoid)}.")
    return "\n".join(lines)
