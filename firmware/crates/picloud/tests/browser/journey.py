"""The real-browser journey: Debian's headless Chromium, driven by selenium, with a CDP
virtual authenticator and the cluster CA trusted in the profile's NSS database.

argv: base URL (https://picloud.local:PORT), bootstrap code, screenshot directory.
Protocol on stdout/stdin with the Rust test: prints READY after enrolment of both passkeys
and a login with the second one alone, reads the device verification URL, prints APPROVED
when the portal approved it. Progress notes go to stderr.

The first passkey comes from one virtual authenticator; it is then removed and a second
virtual authenticator enrols the second passkey on the setup page's "second passkey" step.
The login that follows can only be signed by the second authenticator (recovery tier 2),
which its signature counter confirms.
"""
import sys, time
from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By

base, code, shots = sys.argv[1], sys.argv[2], sys.argv[3]
host = base.split("://", 1)[1]

opts = Options()
opts.binary_location = "/usr/bin/chromium"
for a in ["--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=900,760",
          "--host-resolver-rules=MAP picloud.local 127.0.0.1"]:
    opts.add_argument(a)
d = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=opts)
d.set_page_load_timeout(30)
try:
    d.execute_cdp_cmd("WebAuthn.enable", {})

    def add_authenticator():
        return d.execute_cdp_cmd("WebAuthn.addVirtualAuthenticator", {"options": {
            "protocol": "ctap2", "transport": "internal", "hasResidentKey": True,
            "hasUserVerification": True, "isUserVerified": True,
            "automaticPresenceSimulation": True}})["authenticatorId"]

    def credentials(authenticator):
        return d.execute_cdp_cmd("WebAuthn.getCredentials",
                                 {"authenticatorId": authenticator})["credentials"]

    first = add_authenticator()

    def status_contains(text, limit=20):
        end = time.time() + limit
        while time.time() < end:
            s = d.find_element(By.ID, "status").text
            if text in s:
                return s
            if d.find_element(By.ID, "status").get_attribute("class") == "err" and s:
                raise SystemExit("portal error: " + s)
            time.sleep(0.1)
        raise SystemExit("timed out waiting for %r; status %r" % (text, d.find_element(By.ID, "status").text))

    def shot(name):
        d.save_screenshot("%s/%s.png" % (shots, name))

    # 1. Setup: the bootstrap code and the first passkey.
    d.get(base + "/portal/setup")
    assert d.execute_script("return window.isSecureContext"), "the CA is not trusted"
    shot("1-setup")
    d.find_element(By.ID, "code").send_keys(code)
    d.find_element(By.ID, "name").send_keys("alice")
    d.find_element(By.ID, "display").send_keys("Alice")
    d.find_element(By.ID, "enrol").click()
    status_contains("you are the administrator alice")
    shot("2-setup-second-passkey")
    assert len(credentials(first)) == 1, "the first authenticator holds no credential"

    # 1b. The second passkey (recovery tier 2) on the page the portal shows next, created
    # by a second authenticator: the first is removed, so the credential can only come
    # from the second.
    d.execute_cdp_cmd("WebAuthn.removeVirtualAuthenticator", {"authenticatorId": first})
    second = add_authenticator()
    d.find_element(By.ID, "add").click()
    status_contains("Second passkey enrolled")
    made = credentials(second)
    assert len(made) == 1, "the second authenticator holds %d credentials" % len(made)
    count_before = made[0]["signCount"]
    print("second passkey enrolled by the second authenticator", file=sys.stderr, flush=True)

    # 2. Log in with the passkey (a fresh page: the portal's own login).
    d.execute_script("sessionStorage.clear()")
    d.get(base + "/portal/login")
    shot("3-login")
    d.find_element(By.ID, "name").send_keys("alice")
    d.find_element(By.ID, "signin").click()
    status_contains("Signed in as alice")
    # Only the second authenticator exists: it signed the assertion (its counter moved).
    used = credentials(second)
    assert len(used) == 1 and used[0]["signCount"] > count_before, \
        "the login was not signed by the second passkey: %r" % used
    print("logged in with the second passkey alone (recovery tier 2)", file=sys.stderr,
          flush=True)
    print("READY", flush=True)

    # 3. Approve the CLI's device code.
    url = sys.stdin.readline().strip()
    url = url.replace("://127.0.0.1:", "://picloud.local:")
    d.get(url)
    shot("4-device")
    d.find_element(By.ID, "approve").click()
    status_contains("Approved")
    shot("5-device-approved")
    print("APPROVED", flush=True)
finally:
    d.quit()
