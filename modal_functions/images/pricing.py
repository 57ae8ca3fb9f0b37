"""What one generated image costs at the provider (Gemini API list prices, USD per image).

Gemini image models bill output tokens; one image is a fixed token count per model
and size (gemini-2.5-flash-image: 1290 tokens x $30/M = $0.039). Cache hits and
placeholders cost nothing. Unknown models are priced like the default model and
say so in the log, rather than reporting a silent $0.
"""

from __future__ import annotations

import logging

log = logging.getLogger(__name__)

USD_PER_IMAGE: dict[str, float] = {
    "gemini-2.5-flash-image": 0.039,
    "gemini-2.5-flash-image-preview": 0.039,
    "gemini-3-pro-image-preview": 0.134,  # 1K/2K output
}
DEFAULT_MODEL = "gemini-2.5-flash-image"


def image_cost(model: str) -> float:
    price = USD_PER_IMAGE.get(model)
    if price is None:
        log.warning("no price for image model; using the default model's", extra={"model": model})
        price = USD_PER_IMAGE[DEFAULT_MODEL]
    return price
