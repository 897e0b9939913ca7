#!/usr/bin/env python3
"""Drives obup's web console through a whole upgrade in headless Chromium.

Run against `obup dev --demo --demo-fail start_zone@2` (its "Start zone2"
statement fails once):

    python drive.py --url http://127.0.0.1:PORT --token-file FILE \
        --screenshots DIR --package RPM [--package RPM ...] \
        --version 4.3.5.0 --release 100000202024123117.el7

Signs in with the admin token, uploads the packages, plans, runs the check,
starts the upgrade, sees it fail at zone2 with the sys tenant's error in the
log, retries it to SUCCEED (with --restart-on-request, obup is killed and
restarted meanwhile: the page must reconnect and show every stage SUCCEED),
then visits clusters, history and audit, signs out, and signs in again at
phone width. Prints the first render time and the page weight. A PNG is saved at every step, and the
browser's console is read after every step: any SEVERE entry fails the run.
Exit 0 on success; 1 with the reason, a last screenshot and the page source.

Uses Debian's chromium and chromedriver, so Selenium Manager downloads
nothing.
"""

import argparse
import os
import sys
import time
import traceback

from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException, WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import Select

# The element ids this script relies on; app.js defines the same ones.
IDS = {
    "signin_token": "signin-token",     # API token field of the sign-in form
    "signin_error": "signin-error",     # why signing in failed
    "whoami": "whoami",                 # signed-in name and role in the top bar
    "signout": "signout-button",
    "nav_clusters": "nav-clusters",
    "nav_packages": "nav-packages",
    "nav_plan": "nav-plan",
    "nav_history": "nav-history",
    "nav_audit": "nav-audit",
    "status": "status",                 # the polite live region for messages
    "package_file": "package-file",     # <input type=file> in the drop zone
    "upload_list": "upload-list",       # one <li data-state=... data-pkg-name=...> per upload
    "packages_table": "packages-table", # one <tr data-name=...> per stored package
    "plan_version": "plan-version",
    "plan_release": "plan-release",
    "plan_mode": "plan-mode",           # <select>: ROLLING | STOPSERVICE
    "plan_submit": "plan-submit",       # "Plan"
    "plan_error": "plan-error",
    "plan_hops": "plan-hops",           # <ol> of the route's hops
    "plan_stages": "plan-stages",       # <ol> of the stages
    "check_button": "check-button",     # "Run check"
    "start_button": "start-button",     # "Start upgrade"
    "confirm_dialog": "confirm-dialog",
    "confirm_ok": "confirm-ok",
    "dag_state": "dag-state",           # state badge, data-state=SUCCEED|FAILED|...
    "stage_list": "stage-list",
    "log_view": "log-view",             # the selected sub-task's log
    "log_title": "log-title",
    "log_count": "log-count",           # "N lines" of the selected log
    "op_retry": "op-retry",
    "clusters": "clusters",
    "history_table": "history-table",
    "audit_table": "audit-table",
}

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
DAG_TIMEOUT = 300  # seconds an upgrade or a check may take in the demo
STEP_TIMEOUT = 30


class Failed(Exception):
    """A step did not go as expected."""


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--url", required=True)
    p.add_argument("--token-file", required=True)
    p.add_argument("--screenshots", required=True)
    p.add_argument("--package", action="append", required=True, help="an RPM to upload (repeatable)")
    p.add_argument("--version", required=True)
    p.add_argument("--release", required=True)
    p.add_argument("--viewer-token-file", help="a viewer's token: the page must offer it no action")
    p.add_argument("--restart-on-request", action="store_true",
                   help="mid-upgrade, print RESTART and wait for a line on stdin while obup is restarted")
    return p.parse_args()


def make_driver():
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--window-size=1280,800", "--disable-dev-shm-usage"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)


class Console:
    """The browser, the screenshots, and the steps' vocabulary."""

    def __init__(self, driver, base_url, shots):
        self.d = driver
        self.base_url = base_url.rstrip("/") + "/"
        self.shots = shots
        self.count = 0
        self.step_name = "start"
        # While obup restarts, the browser logs its refused connections as
        # errors; only those are forgiven, and only then.
        self.restarting = False
        # A request the step expects to be refused (path, status): Chrome
        # logs the refusal as an error; that one is forgiven, in that step.
        self.expected_refusal = None

    # --- bookkeeping -------------------------------------------------------

    def step(self, name):
        """Ends a step: a screenshot, then the console checked for errors."""
        self.count += 1
        self.step_name = name
        path = os.path.join(self.shots, f"{self.count:02d}-{name}.png")
        self.d.save_screenshot(path)
        self.check_console()
        self.check_names()
        print(f"ok   {self.count:02d} {name}", flush=True)

    def check_names(self):
        """Every visible control has an accessible name: its aria-label,
        its label, or its text."""
        unnamed = self.d.execute_script("""
            const name = (e) => (e.getAttribute('aria-label') || '').trim()
                || [...(e.labels || [])].map((l) => l.textContent.trim()).join(' ')
                || (e.textContent || '').trim() || (e.getAttribute('title') || '').trim();
            return [...document.querySelectorAll('button, a[href], input, select, textarea, [role=button]')]
                .filter((e) => e.offsetParent !== null && e.type !== 'hidden' && !name(e))
                .map((e) => e.outerHTML.slice(0, 120));
        """)
        if unnamed:
            raise Failed("controls without an accessible name:\n  " + "\n  ".join(unnamed))

    def check_console(self):
        severe = []
        for entry in self.d.get_log("browser"):
            if entry.get("level") == "SEVERE":
                message = entry.get("message", "")
                # A stream cut mid-chunk, connections refused while it is down.
                if self.restarting and "net::ERR_" in message:
                    print(f"     during the restart: {message}", flush=True)
                    continue
                if self.expected_refusal:
                    path, status = self.expected_refusal
                    if path in message and f"status of {status}" in message:
                        print(f"     expected refusal: {message}", flush=True)
                        continue
                severe.append(message)
            elif entry.get("level") == "WARNING":
                print(f"     console warning: {entry.get('message', '')}", flush=True)
        if severe:
            raise Failed("console errors:\n  " + "\n  ".join(severe))

    # --- finding and waiting -----------------------------------------------

    def wait(self, what, test, timeout=STEP_TIMEOUT, poll=0.25):
        """Waits until test() returns something truthy; returns it."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                value = test()
            except (StaleElementReferenceException, WebDriverException):
                value = None
            if value:
                return value
            if time.monotonic() > deadline:
                raise Failed(f"timed out after {timeout}s waiting for {what}; page says: {self.status_text()!r}")
            time.sleep(poll)

    def find(self, key):
        found = self.d.find_elements(By.ID, IDS[key])
        return found[0] if found else None

    def visible(self, key, timeout=STEP_TIMEOUT):
        return self.wait(f"#{IDS[key]} to show", lambda: (e := self.find(key)) and e.is_displayed() and e, timeout)

    def click(self, key, timeout=STEP_TIMEOUT):
        el = self.wait(f"#{IDS[key]} to be clickable",
                       lambda: (e := self.find(key)) and e.is_displayed() and e.is_enabled() and e, timeout)
        el.click()

    def text(self, key):
        el = self.find(key)
        return el.text if el else ""

    def status_text(self):
        """What the page says: its status messages and any sign-in error."""
        try:
            return " / ".join(t for t in (self.text("status"), self.text("signin_error")) if t)
        except WebDriverException:
            return ""

    def hash(self):
        return self.d.execute_script("return location.hash")

    def type_into(self, key, value):
        el = self.visible(key)
        el.clear()
        el.send_keys(value)

    def confirm(self, shot_name):
        self.visible("confirm_dialog")
        self.step(shot_name)
        self.click("confirm_ok")
        self.wait("the dialog to close", lambda: not self.find("confirm_dialog").is_displayed())

    # --- pages ---------------------------------------------------------------

    def sign_in(self, token):
        field = self.visible("signin_token")
        field.clear()
        field.send_keys(token)
        field.send_keys(Keys.ENTER)

        def signed_in():
            if self.text("signin_error"):
                raise Failed(f"signing in failed: {self.text('signin_error')}")
            return self.find("whoami").is_displayed() and self.text("whoami")

        self.wait("the signed-in name", signed_in)

    def go(self, nav_key, ready_key):
        self.click(nav_key)
        return self.visible(ready_key)

    def dag_page(self):
        """Waits for the live DAG page to show its state and stages."""
        self.visible("dag_state")
        self.wait("the DAG's stages", lambda: self.d.find_elements(By.CSS_SELECTOR, f"#{IDS['stage_list']} > li"))

    def dag_state(self):
        el = self.find("dag_state")
        return el.get_attribute("data-state") if el else None

    def wait_dag(self, wanted, timeout=DAG_TIMEOUT):
        """Waits for the live page's state badge to show `wanted`; fails at
        once on the other final state."""
        final = {"SUCCEED", "FAILED"}

        def reached():
            state = self.dag_state()
            if state in final and state != wanted:
                raise Failed(f"the DAG ended {state}, expected {wanted}")
            return state == wanted

        self.wait(f"the DAG to reach {wanted}", reached, timeout=timeout, poll=1)

    def dag_id_from_hash(self, not_this=None):
        def dag_id():
            h = self.hash()
            if h.startswith("#/dag/") and h[len("#/dag/"):] != not_this:
                return h[len("#/dag/"):]
            return None
        return self.wait("the live DAG page", dag_id)


def run(c, args, token):
    packages = [os.path.abspath(p) for p in args.package]
    for p in packages:
        if not os.path.isfile(p):
            raise Failed(f"no such package file: {p}")

    # Sign in. The figures: the first render (navigation start to the
    # sign-in form shown) and what the page weighs on the wire.
    started = time.monotonic()
    c.d.get(c.base_url)
    c.visible("signin_token", timeout=10)
    shown_ms = (time.monotonic() - started) * 1000
    timing = c.d.execute_script("""
        const nav = performance.getEntriesByType('navigation')[0];
        const resources = performance.getEntriesByType('resource');
        const bytes = [nav, ...resources].reduce((n, e) => n + (e.transferSize || 0), 0);
        return {dcl: nav.domContentLoadedEventEnd, load: nav.loadEventEnd, bytes: bytes};
    """)
    print(f"     figure: first render {timing['load']:.0f} ms (load event; sign-in form seen "
          f"by the driver after {shown_ms:.0f} ms), target <= 1000 ms", flush=True)
    print(f"     figure: page weight {timing['bytes'] / 1024:.1f} KiB transferred, target <= 300 KB", flush=True)
    if timing["load"] > 1000:
        raise Failed(f"first render took {timing['load']:.0f} ms")
    if timing["bytes"] > 300_000:
        raise Failed(f"the page weighs {timing['bytes']} bytes")
    c.step("sign-in-form")
    c.sign_in(token)
    c.step("signed-in")

    # Before any package is stored, the planner names what to upload.
    c.go("nav_plan", "plan_version")
    c.type_into("plan_version", args.version)
    c.type_into("plan_release", args.release)
    c.expected_refusal = ("/api/v1/console/plan", 400)
    c.click("plan_submit")
    missing = c.wait("the missing packages named", lambda: "oceanbase-ce" in c.text("plan_error") and c.text("plan_error"))
    print(f"     planner before the upload: {missing!r}", flush=True)
    c.step("plan-names-missing-packages")
    c.expected_refusal = None

    # By keyboard alone: Tab to the Packages link, Enter follows it.
    c.d.execute_script("document.activeElement && document.activeElement.blur(); window.scrollTo(0, 0)")
    body = c.d.find_element(By.TAG_NAME, "body")
    for _ in range(40):
        body.send_keys(Keys.TAB) if c.d.switch_to.active_element.tag_name == "body" else \
            c.d.switch_to.active_element.send_keys(Keys.TAB)
        if c.d.switch_to.active_element.get_attribute("id") == IDS["nav_packages"]:
            break
    else:
        raise Failed("Tab never reached the Packages link")
    c.d.switch_to.active_element.send_keys(Keys.ENTER)
    c.wait("the packages page by keyboard", lambda: c.hash() == "#/packages")

    # Upload every package through the file input, then see them listed.
    c.visible("package_file")
    for p in packages:
        c.find("package_file").send_keys(p)

    def uploads_done():
        rows = c.d.find_elements(By.CSS_SELECTOR, f"#{IDS['upload_list']} > li")
        states = [r.get_attribute("data-state") for r in rows]
        if "failed" in states:
            raise Failed(f"an upload failed: {c.text('upload_list')}")
        return len(rows) == len(packages) and all(s == "done" for s in states) and rows

    rows = c.wait("every upload to finish", uploads_done, timeout=DAG_TIMEOUT)
    names = {r.get_attribute("data-pkg-name") for r in rows}
    for name in names:
        c.wait(f"package {name} in the list", lambda name=name: c.d.find_elements(
            By.CSS_SELECTOR, f"#{IDS['packages_table']} tr[data-name='{name}']"))
    c.step("packages-uploaded")

    # Plan: the route's hops and the stages.
    c.go("nav_plan", "plan_version")
    c.type_into("plan_version", args.version)
    c.type_into("plan_release", args.release)
    Select(c.visible("plan_mode")).select_by_value("ROLLING")
    c.click("plan_submit")

    def planned():
        if c.text("plan_error"):
            raise Failed(f"planning failed: {c.text('plan_error')}")
        hops = c.d.find_elements(By.CSS_SELECTOR, f"#{IDS['plan_hops']} > li")
        stages = c.d.find_elements(By.CSS_SELECTOR, f"#{IDS['plan_stages']} > li")
        return hops and stages and (len(hops), len(stages))

    hops, stages = c.wait("the plan's hops and stages", planned)
    print(f"     plan: {hops} hop(s), {stages} stages", flush=True)
    c.step("planned")

    # The check runs to SUCCEED on its live page.
    c.click("check_button")
    check_id = c.dag_id_from_hash()
    c.dag_page()
    c.step("check-running")
    c.wait_dag("SUCCEED")
    c.step("check-succeeded")

    # Start the upgrade from the planner; it fails at zone2.
    c.go("nav_plan", "plan_version")
    if not c.find("start_button").is_enabled():
        c.click("plan_submit")
    c.click("start_button")
    c.confirm("confirm-start")
    dag_id = c.dag_id_from_hash(not_this=check_id)
    c.dag_page()
    c.step("upgrade-running")
    c.wait_dag("FAILED")
    c.wait("the failed sub-task's log", lambda: "4179" in c.text("log_view"))
    print(f"     failed; log of {c.text('log_title')!r} shows the sys tenant's error", flush=True)
    c.step("upgrade-failed")

    # Retry to SUCCEED, with obup killed and restarted under the page when
    # asked: the page reconnects by itself (Last-Event-ID) and misses
    # nothing, so every stage ends SUCCEED without a reload.
    c.click("op_retry")
    c.confirm("confirm-retry")
    if args.restart_on_request:
        c.wait("the retried DAG to run", lambda: c.dag_state() == "RUNNING")
        c.restarting = True
        print("RESTART", flush=True)
        if sys.stdin.readline().strip() != "restarted":
            raise Failed("obup was not restarted")
        print("     obup restarted under the page", flush=True)
    c.wait_dag("SUCCEED")

    def every_stage_succeeded():
        stages = c.d.find_elements(By.CSS_SELECTOR, f"#{IDS['stage_list']} > li")
        states = [li.get_attribute("data-state") for li in stages]
        return stages and all(s == "SUCCEED" for s in states) and len(stages)

    count = c.wait("every stage to show SUCCEED", every_stage_succeeded)
    print(f"     all {count} stages SUCCEED on the page", flush=True)
    c.step("upgrade-succeeded")
    c.restarting = False

    # Clusters: the three zones.
    c.go("nav_clusters", "clusters")
    for zone in ("zone1", "zone2", "zone3"):
        c.wait(f"{zone} listed", lambda zone=zone: c.d.find_elements(
            By.CSS_SELECTOR, f"#{IDS['clusters']} tr[data-zone='{zone}']"))
    c.step("clusters")

    # History: the upgrade's DAG, linking to its live page.
    c.go("nav_history", "history_table")
    c.wait("the DAG in the history", lambda: c.d.find_elements(
        By.CSS_SELECTOR, f"#{IDS['history_table']} a[href='#/dag/{dag_id}']"))
    c.step("history")

    # Audit: StartUpgrade is recorded.
    c.go("nav_audit", "audit_table")
    c.wait("StartUpgrade in the audit trail", lambda: "StartUpgrade" in c.text("audit_table"))
    c.step("audit")

    # Delete a package (admin), behind its confirmation: its row goes.
    c.go("nav_packages", "packages_table")
    libs = c.wait("the libs package's row", lambda: c.d.find_elements(
        By.CSS_SELECTOR, f"#{IDS['packages_table']} tr[data-name='oceanbase-ce-libs']"))
    row_id = libs[0].get_attribute("id")
    libs[0].find_element(By.CSS_SELECTOR, "button[aria-label^='Delete']").click()
    c.confirm("confirm-delete")
    c.wait("the deleted package's row to go", lambda: not c.d.find_elements(By.ID, row_id))
    c.step("package-deleted")

    # A sub-task with 100,000 log lines: the page must draw only what is
    # visible and stay responsive.
    measure_big_log(c, token, dag_id)

    # Sign out: the sign-in form is back.
    c.click("signout")
    c.visible("signin_token")
    if c.find("nav_clusters").is_displayed():
        raise Failed("the navigation is still shown after signing out")
    c.step("signed-out")

    # A viewer sees everything and can act on nothing.
    if args.viewer_token_file:
        with open(args.viewer_token_file, encoding="utf-8") as f:
            viewer = f.read().strip()
        c.sign_in(viewer)
        if "viewer" not in c.text("whoami"):
            raise Failed(f"signed in as {c.text('whoami')!r}, not a viewer")
        if c.find("nav_audit") and c.find("nav_audit").is_displayed():
            raise Failed("a viewer is offered the audit trail")
        c.go("nav_packages", "packages_table")
        c.wait("the packages listed", lambda: c.d.find_elements(By.CSS_SELECTOR, f"#{IDS['packages_table']} tr[data-name]"))
        actions = [e for e in c.d.find_elements(By.CSS_SELECTOR, "#package-file, #drop-zone, button[aria-label^='Delete']")
                   if e.is_displayed()]
        if actions:
            raise Failed(f"a viewer is offered {len(actions)} package action(s)")
        c.go("nav_plan", "plan_version")
        for key in ("check_button", "start_button"):
            if c.find(key) and c.find(key).is_displayed():
                raise Failed(f"a viewer is offered #{IDS[key]}")
        c.d.get(f"{c.base_url}#/dag/{dag_id}")
        c.dag_page()
        operators = [e for e in c.d.find_elements(By.CSS_SELECTOR, "button[id^='op-']") if e.is_displayed()]
        if operators:
            raise Failed(f"a viewer is offered operators: {[e.text for e in operators]}")
        c.step("viewer-dag")
        c.click("signout")
        c.visible("signin_token")

    # At phone width: sign in again and look at the DAG.
    c.d.set_window_size(375, 800)
    c.sign_in(token)
    c.go("nav_history", "history_table")
    link = c.wait("the DAG's link", lambda: c.d.find_elements(
        By.CSS_SELECTOR, f"#{IDS['history_table']} a[href='#/dag/{dag_id}']"))
    link[0].click()
    c.dag_page()
    c.wait_dag("SUCCEED", timeout=STEP_TIMEOUT)
    overflow = c.d.execute_script(
        "return document.documentElement.scrollWidth - document.documentElement.clientWidth")
    if overflow > 1:
        print(f"     note: the page is {overflow}px wider than the phone viewport", flush=True)
    c.step("phone-dag")


# Installed before the page's own script (CDP), so the page's fetch of a
# sub-task's log gets 100,000 lines: a test shim, never part of the page.
BIG_LOG_SHIM = """
(() => {
  const real = window.fetch.bind(window);
  window.fetch = (input, init) => {
    const url = typeof input === 'string' ? input : input.url;
    if (!/\\/api\\/v1\\/task\\/sub_task\\/[^/]+\\/logs$/.test(url)) return real(input, init);
    const contents = [];
    for (let i = 1; i <= 100000; i += 1) {
      contents.push({id: i, sub_task_id: 1, execute_times: 1,
        log_content: `line ${i}: ALTER SYSTEM START ZONE 'zone2' -- ` + 'x'.repeat(i % 80),
        create_time: '2026-11-27T00:00:00Z'});
    }
    const body = JSON.stringify({successful: true, status: 200, data: {contents}});
    return Promise.resolve(new Response(body, {status: 200, headers: {'Content-Type': 'application/json'}}));
  };
})();
"""

# Scrolls the log view to 60 random places, one per animation frame, and
# reports the frame times and how many rows exist in the DOM.
SCROLL_PROBE = """
const done = arguments[arguments.length - 1];
const view = document.getElementById('log-view');
const frames = [];
let last = performance.now();
let n = 0;
const step = (now) => {
  frames.push(now - last);
  last = now;
  if (n++ >= 60) {
    frames.sort((a, b) => a - b);
    done({median: frames[Math.floor(frames.length / 2)], max: frames[frames.length - 1],
          rows: view.querySelectorAll('.log-row').length, height: view.scrollHeight});
    return;
  }
  view.scrollTop = Math.floor(Math.random() * view.scrollHeight);
  requestAnimationFrame(step);
};
requestAnimationFrame(step);
"""


def measure_big_log(c, token, dag_id):
    c.d.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": BIG_LOG_SHIM})
    # Another query string: a new document (a hash change alone would keep
    # the current one, without the shim).
    c.d.get(f"{c.base_url}?big-log#/dag/{dag_id}")
    c.dag_page()
    toggle = c.wait("a stage to open", lambda: c.d.find_elements(By.CSS_SELECTOR, "#stage-list .stage-toggle"))
    toggle[0].click()
    sub = c.wait("a sub-task", lambda: c.d.find_elements(By.CSS_SELECTOR, "#stage-list button[id^='subtask-']"))
    started = time.monotonic()
    sub[0].click()
    c.wait("100,000 lines loaded", lambda: "100000 lines" in c.text("log_count"), timeout=60, poll=0.05)
    shown_ms = (time.monotonic() - started) * 1000
    probe = c.d.execute_async_script(SCROLL_PROBE)
    print(f"     figure: 100,000-line log shown {shown_ms:.0f} ms after the click; 60 random scrolls: "
          f"median frame {probe['median']:.1f} ms, worst {probe['max']:.1f} ms; "
          f"{probe['rows']} rows in the DOM", flush=True)
    if probe["rows"] > 500:
        raise Failed(f"{probe['rows']} log rows in the DOM: the view draws more than what is visible")
    if probe["median"] > 100:
        raise Failed(f"scrolling the log takes {probe['median']:.0f} ms a frame")
    c.step("big-log")


def main():
    args = parse_args()
    os.makedirs(args.screenshots, exist_ok=True)
    with open(args.token_file, encoding="utf-8") as f:
        token = f.read().strip()
    driver = make_driver()
    c = Console(driver, args.url, args.screenshots)
    try:
        run(c, args, token)
    except Exception as e:  # noqa: BLE001 - every failure is reported the same way
        print(f"FAIL after step {c.count:02d} ({c.step_name}): {e}", flush=True)
        if not isinstance(e, Failed):
            traceback.print_exc()
        try:
            driver.save_screenshot(os.path.join(args.screenshots, "failure.png"))
            with open(os.path.join(args.screenshots, "failure.html"), "w", encoding="utf-8") as f:
                f.write(driver.page_source)
            for entry in driver.get_log("browser"):
                print(f"     console {entry.get('level')}: {entry.get('message')}", flush=True)
        except WebDriverException as why:
            print(f"     (could not save the page: {why})", flush=True)
        return 1
    finally:
        driver.quit()
    print(f"console drive passed: {c.count} steps, screenshots in {args.screenshots}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
