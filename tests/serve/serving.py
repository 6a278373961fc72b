"""Starting and stopping `collabzium serve` for the browser test and the load check (stdlib only)."""
import re
import signal
import subprocess
import urllib.request


def start(collabzium, *args):
    """Starts `collabzium serve --port 0 ARGS` and returns (process, base URL) once it listens: the
    server prints the port it was given on its first line."""
    proc = subprocess.Popen([collabzium, "serve", "--port", "0", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    m = re.search(r"on (http://[^ ]+/) ", line)
    if not m:
        proc.kill()
        raise SystemExit(f"serve did not start: {line!r} {proc.stderr.read()!r}")
    return proc, m.group(1)


def stop(proc, timeout=60, sig=signal.SIGTERM):
    """Sends `sig` (SIGTERM or SIGINT); returns (exit status, stdout rest, stderr). A server that
    does not stop is killed and reported with status None."""
    proc.send_signal(sig)
    try:
        out, err = proc.communicate(timeout=timeout)
        return proc.returncode, out, err
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        return None, out, err


def get(url, timeout=30):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.status, r.read()
