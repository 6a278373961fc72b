#!/usr/bin/env python3
"""The sandbox page in a real browser: headless Chromium, driven over the W3C WebDriver protocol
(chromedriver), loads the page from a running `collabzium serve`, waits until the panels are drawn,
raises the patient's registration through the page's own slider and checks that the shown patient
sensitivity rose; writes a screenshot.

usage: browser_test.py COLLABZIUM SCREENSHOT.png [--chromedriver PATH] [--chromium PATH]
Standard library only.
"""
import argparse
import base64
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

import serving


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url, seconds):
    deadline = time.monotonic() + seconds
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5) as r:
                return r.read()
        except (urllib.error.URLError, ConnectionError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


class WebDriver:
    def __init__(self, base):
        self.base = base
        self.session = None

    def call(self, method, path, payload=None):
        data = None if payload is None else json.dumps(payload).encode()
        req = urllib.request.Request(self.base + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=120) as r:
                return json.loads(r.read() or b"{}").get("value")
        except urllib.error.HTTPError as e:
            raise RuntimeError(f"WebDriver {method} {path}: {e.code} {e.read()[:500]!r}") from None

    def start(self, chromium, profile):
        args = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--disable-dev-shm-usage", "--window-size=1400,1500", f"--user-data-dir={profile}"]
        caps = {"browserName": "chrome", "goog:chromeOptions": {"args": args}}
        if chromium:
            caps["goog:chromeOptions"]["binary"] = chromium
        v = self.call("POST", "/session", {"capabilities": {"alwaysMatch": caps}})
        self.session = v["sessionId"]

    def s(self, path):
        return f"/session/{self.session}{path}"

    def go(self, url):
        self.call("POST", self.s("/url"), {"url": url})

    def js(self, script, *args):
        return self.call("POST", self.s("/execute/sync"), {"script": script, "args": list(args)})

    def find(self, css):
        # The element reference as WebDriver gives it, to be passed back as a script argument.
        return self.call("POST", self.s("/element"), {"using": "css selector", "value": css})

    def screenshot(self, path):
        with open(path, "wb") as f:
            f.write(base64.b64decode(self.call("GET", self.s("/screenshot"))))

    def quit(self):
        if self.session:
            try:
                self.call("DELETE", self.s(""))
            except Exception:
                pass


def wait_ready(wd, after_generation, seconds=60):
    """Waits until the page has drawn the panels of an update newer than `after_generation`."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        st = wd.js("return [document.body.dataset.state, Number(document.body.dataset.generation),"
                   " document.getElementById('status-text').textContent];")
        if st[1] > after_generation and st[0] in ("ready", "error"):
            if st[0] == "error":
                raise AssertionError(f"the page shows an error: {st[2]}")
            return st[1]
        time.sleep(0.1)
    raise AssertionError(f"the page did not finish drawing within {seconds} s: {st}")


def shown(wd, element_id):
    return wd.js("const e = document.getElementById(arguments[0]); return e ? e.textContent : null;", element_id)


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("collabzium")
    ap.add_argument("screenshot")
    ap.add_argument("--chromedriver", default=shutil.which("chromedriver") or "/usr/bin/chromedriver")
    ap.add_argument("--chromium", default=shutil.which("chromium") or "")
    a = ap.parse_args()

    for tool in (a.chromedriver, a.chromium):
        if not tool or not os.path.exists(tool):
            sys.exit(f"chromium and chromedriver are needed (Debian: chromium chromium-driver; scripts/test "
                     f"installs them); not found: {tool!r}")
    work = tempfile.mkdtemp(prefix="collabzium-browser-")
    driver_port = free_port()
    server, page = serving.start(a.collabzium, "--threads", "2")
    driver = subprocess.Popen([a.chromedriver, f"--port={driver_port}"], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    wd = WebDriver(f"http://127.0.0.1:{driver_port}")
    try:
        wait_http(f"http://127.0.0.1:{driver_port}/status", 30)
        wd.start(a.chromium, os.path.join(work, "profile"))
        wd.go(page)
        g1 = wait_ready(wd, 0)
        before = float(wd.js("return document.getElementById('acc-patient-sensitivity').dataset.value;"))
        before_text = shown(wd, "acc-patient-sensitivity")
        for panel in ("ex-a-0", "ex-d-2", "roc", "power-chart"):
            assert wd.js("return !!Chart.getChart(arguments[0]);", panel), f"chart {panel} was not drawn"
        assert "gidhagen2025" in shown(wd, "toml"), "the scenario file is not shown"
        pattern = shown(wd, "pattern-probability")
        assert pattern and pattern != "NA", f"no pattern probability: {pattern!r}"

        # Move the patient's registration slider the way a person does: the element's value, then
        # the input event the page listens to.
        slider = wd.find("#ctl-raters-patient-registration")
        wd.js("arguments[0].value = '0.95'; arguments[0].dispatchEvent(new Event('input', {bubbles: true}));", slider)
        g2 = wait_ready(wd, g1)
        after = float(wd.js("return document.getElementById('acc-patient-sensitivity').dataset.value;"))
        after_text = shown(wd, "acc-patient-sensitivity")
        url = wd.js("return location.search;")
        print(f"patient sensitivity: {before_text} at registration 0.5 -> {after_text} at 0.95; URL {url}")
        assert after > before + 0.05, f"patient sensitivity did not rise with registration: {before} -> {after}"
        assert "raters.patient.registration=0.95" in url, f"the URL does not hold the setting: {url}"
        assert shown(wd, "ctl-raters-patient-registration-value") == "0.95"
        assert "registration = 0.95" in shown(wd, "toml")

        # A link with a setting reproduces it: load the URL afresh.
        wd.go(page + url)
        wait_ready(wd, 0)
        again = float(wd.js("return document.getElementById('acc-patient-sensitivity').dataset.value;"))
        assert again == after, f"the link did not reproduce the setting: {after} vs {again}"
        wd.js("window.scrollTo(0, 0);")
        wd.screenshot(a.screenshot)
        print(f"screenshot: {a.screenshot} (generations {g1}, {g2})")
    finally:
        wd.quit()
        driver.terminate()
        status, _, err = serving.stop(server)
        driver.wait(timeout=30)
        shutil.rmtree(work, ignore_errors=True)
    if status != 0:
        print(err, file=sys.stderr)
        sys.exit(f"serve exited with {status} after SIGTERM (0 expected)")
    print("browser test passed")


if __name__ == "__main__":
    main()
