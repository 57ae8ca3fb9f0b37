"""safe_fetch when OUR disk fails while saving a download (full, file too large, read-only).

Such a failure came out as the raw OSError: the job failed `internal`, not retryable, although
a new attempt (another container, a disk with room again) may well succeed. The stores'
`get_to_file` already turns the same situation into a retryable `storage_unavailable`; a
download does the same now, without naming our temp file, and leaves no partial file behind.

The disk error is real: the fetch runs in a child process whose RLIMIT_FSIZE is smaller than
the body, so its write fails with EFBIG as a full disk fails with ENOSPC.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

CHILD = textwrap.dedent("""
    import json, resource, signal, sys
    from pathlib import Path

    sys.path.insert(0, sys.argv[1])
    from local_tls import HOST, TLSServer
    from modal_functions.errors import CapabilityError
    from modal_functions.fetch import safe_fetch

    dest = Path(sys.argv[2]) / "input.bin"
    with TLSServer(big_size=1 << 16) as server:  # its certificate is written before the limit
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # the write fails with EFBIG instead of a kill
        resource.setrlimit(resource.RLIMIT_FSIZE, (4096, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))
        try:
            safe_fetch(server.url("/big"), dest, max_bytes=1 << 20, timeout=10,
                       resolver=lambda host, port: ["127.0.0.1"], allow_hosts={HOST}, ssl_context=server.client_context)
            out = {"outcome": "fetched"}
        except CapabilityError as e:
            out = {"outcome": "coded", "code": e.code, "retryable": e.retryable, "status": e.http_status, "message": e.message}
        except Exception as e:
            out = {"outcome": "raw", "type": type(e).__name__, "message": str(e)}
    out["left"] = sorted(p.name for p in dest.parent.iterdir())
    print(json.dumps(out))
""")


def test_a_disk_error_while_saving_a_download_is_retryable_storage_unavailable(tmp_path: Path):
    root = Path(__file__).resolve().parents[2]
    workdir = tmp_path / "job"
    workdir.mkdir()
    done = subprocess.run([sys.executable, "-c", CHILD, str(Path(__file__).parent), str(workdir)],
                          cwd=root, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["outcome"] == "coded", out
    assert (out["code"], out["retryable"], out["status"]) == ("storage_unavailable", True, 503)
    assert "File too large" in out["message"]
    assert ".part" not in out["message"] and str(workdir) not in out["message"]  # never our temp path
    assert out["left"] == []  # the partial download is removed
