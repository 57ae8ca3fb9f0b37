"""A 200 reply of valid JSON in a shape google-genai cannot read is `upstream_malformed`, not a crash.

The SDK does not check JSON types before using them: a body of `1`, a candidate that is
a number or a numeric `finishReason` escape from its reply parsing as a bare TypeError or
AttributeError. Before the fix these passed through `classify_exception`, so the prompt
failed `internal` with `attempts: 0`, and got no placeholder under IMAGE_FALLBACK=placeholder,
although docs/images.md promises `upstream_malformed` for JSON of the wrong shape.
"""

from __future__ import annotations

import pytest
from fake_genai_server import malformed

from modal_functions.contract.images import GenerateImagesRequest
from modal_functions.images.gemini import classify_exception

ODD_BODIES = [
    b"1",  # TypeError inside the SDK's reply converter
    b'{"candidates": [1]}',  # TypeError
    b'{"candidates": [{"finishReason": 7}]}',  # AttributeError ('int' object has no attribute 'upper')
    b'{"promptFeedback": {"blockReason": 3}}',  # AttributeError
    b'{"candidates": [{"citationMetadata": {"citationSources": 1}}]}',  # TypeError
]


@pytest.mark.parametrize("body", ODD_BODIES)
def test_a_reply_the_sdk_cannot_read_is_upstream_malformed(fake, make_engine, store, waits, body):
    fake.push(malformed(body))
    result = make_engine().generate(GenerateImagesRequest(prompts=["a lighthouse at dawn"]), store)

    (item,) = result.images
    assert item.status == "failed"
    assert item.error.code == "upstream_malformed", item.error.message
    assert (item.attempts, waits, len(fake.requests)) == (1, [], 1)  # not retried: the same call gets the same reply


def test_with_the_placeholder_fallback_it_becomes_a_placeholder(fake, make_engine, store, waits):
    fake.push(malformed(b'{"candidates": [{"finishReason": 7}]}'))
    result = make_engine(IMAGE_FALLBACK="placeholder").generate(GenerateImagesRequest(prompts=["a fox in snow"]), store)

    (item,) = result.images
    assert item.status == "placeholder" and result.degraded
    assert item.error.code == "upstream_malformed" and item.attempts == 1


def test_our_own_type_errors_are_not_hidden():
    """Only errors raised while the SDK reads a reply are the provider's: a bug of ours stays a crash."""
    try:
        len(1)  # a TypeError raised in our code, not the SDK's
    except TypeError as e:
        ours = e
    try:
        None.upper()
    except AttributeError as e:
        ours_too = e
    assert classify_exception(ours) is ours
    assert classify_exception(ours_too) is ours_too
