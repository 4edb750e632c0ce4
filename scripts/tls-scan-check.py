#!/usr/bin/env python3
"""Judges a testssl.sh JSON file (--jsonfile, a flat list of findings) for scripts/tls-scan.sh.

Fails (exit 1) when the scanned server:
  - offers SSLv2, SSLv3, TLS 1.0 or TLS 1.1 (checked by the finding's text, since testssl 3.0 rates
    an offered TLS 1.0/1.1 only INFO);
  - offers a cipher of a weak class (NULL, anonymous, export, LOW = DES/RC2/RC4, 3DES/IDEA, the
    obsolete CBC class) or any cipher that is not both forward secret (ECDHE, or TLS 1.3) and AEAD
    (GCM, ChaCha20-Poly1305), judged from the full cipher list the scan enumerated;
  - is found vulnerable to anything in the vulnerabilities section;
  - has any other finding of severity LOW, MEDIUM, HIGH or CRITICAL, except the few in ACCEPTED,
    each of which says why it is not about the TLS policy or not a weakness;
  - or when the scan did not really run (a scanProblem finding, an expected finding missing, or
    one of the required checks reported as WARN: testssl could not run it).
Other WARN findings (a check testssl could not run, e.g. ticket resumption after a connect problem
on a loaded machine) are printed, not failed.

Prints every LOW+ finding (failing or accepted), then the protocol and cipher summary.
    scripts/tls-scan-check.py FILE.json
    scripts/tls-scan-check.py --self-test      # the judge on made-up findings: each rule can fail
"""
import json
import re
import sys

SEVERE = ("LOW", "MEDIUM", "HIGH", "CRITICAL")

# Findings that may be LOW+ without failing the scan, with the reason printed next to them.
ACCEPTED = {
    "cipher_order": "no server cipher order: the client chooses among the offered suites, every one of "
                    "them ECDHE + AEAD (Mozilla's intermediate configuration: ssl_prefer_server_ciphers "
                    "off); testssl 3.0 rates this HIGH whatever the suites. Set by the options of "
                    "copenssl_server_options() (Sources/COpenSSL/shim.h, used by "
                    "Sources/FlaksTLS/TLSServerContext.swift): no SSL_OP_CIPHER_SERVER_PREFERENCE",
    "cert_revocation": "the test CA's leaf names no CRL or OCSP URI (the certificate made by this test, "
                       "not Flaks' TLS policy)",
    "security_headers": "X-Frame-Options, X-Content-Type-Options and the like are the site's headers "
                        "(a route's `headers:`), not TLS",
}

OLD_PROTOCOLS = ("SSLv2", "SSLv3", "TLS1", "TLS1_1")
WEAK_CIPHER_CLASSES = ("cipherlist_NULL", "cipherlist_aNULL", "cipherlist_EXPORT", "cipherlist_LOW",
                       "cipherlist_3DES_IDEA", "cipherlist_AVERAGE")
VULNERABILITIES = ("heartbleed", "CCS", "ticketbleed", "ROBOT", "secure_renego", "secure_client_renego",
                   "CRIME_TLS", "BREACH", "POODLE_SSL", "fallback_SCSV", "SWEET32", "FREAK", "DROWN",
                   "LOGJAM", "BEAST", "LUCKY13", "RC4")
# Present in every full scan of a TLS server: without them the scan did not run.
EXPECTED = OLD_PROTOCOLS + ("TLS1_2", "TLS1_3", "PFS") + WEAK_CIPHER_CLASSES + VULNERABILITIES


def cipher_is_strong(name):
    """Forward secret and AEAD: a TLS 1.3 suite, or an ECDHE suite with GCM or ChaCha20-Poly1305."""
    if name.startswith("TLS_") and ("_GCM_" in name or "CHACHA20_POLY1305" in name):
        return True
    return name.startswith("ECDHE-") and ("-GCM-" in name or "CHACHA20-POLY1305" in name)


def judge(findings):
    """Returns (failures, accepted, summary lines) for a list of testssl findings."""
    by_id = {}
    for f in findings:
        by_id.setdefault(f.get("id", ""), []).append(f)
    failures, accepted, warnings = [], [], []

    def first(i):
        return by_id.get(i, [{}])[0].get("finding", "")

    for f in findings:
        fid, sev = f.get("id", ""), f.get("severity", "")
        if fid == "scanProblem" or sev == "FATAL":
            failures.append(f"{fid}: {sev}: {f.get('finding', '')} (the scan did not complete)")
        elif sev == "WARN":
            # testssl could not run that check (a connect problem, a timeout).
            if fid in EXPECTED:
                failures.append(f"{fid}: WARN: {f.get('finding', '')} (a required check did not run)")
            else:
                warnings.append(f"{fid}: WARN: {f.get('finding', '')}")
        elif sev in SEVERE:
            if fid in ACCEPTED:
                accepted.append(f"{fid}: {sev}: {f.get('finding', '')} -- accepted: {ACCEPTED[fid]}")
            else:
                failures.append(f"{fid}: {sev}: {f.get('finding', '')}")
    missing = [i for i in EXPECTED if i not in by_id]
    if missing:
        failures.append("the scan has no finding for " + ", ".join(missing) + " (did it run in full?)")
    for p in OLD_PROTOCOLS:
        if p in by_id and not first(p).startswith("not offered"):
            failures.append(f"{p}: offered ({first(p)})")
    for c in WEAK_CIPHER_CLASSES:
        if c in by_id and not first(c).startswith("not offered"):
            failures.append(f"{c}: {first(c)}")
    for v in VULNERABILITIES:
        for f in by_id.get(v, []):
            text = f.get("finding", "")
            if re.search(r"\bVULNERABLE\b", text) or (re.search(r"\bvulnerable\b", text) and "not vulnerable" not in text):
                failures.append(f"{v}: {f.get('severity', '')}: {text}")
    offered = []
    for fid, fs in by_id.items():
        if fid.startswith("cipher_x"):
            for f in fs:
                cols = f.get("finding", "").split()
                if len(cols) >= 2:
                    offered.append(cols[1])
                    if not cipher_is_strong(cols[1]):
                        failures.append(f"{fid}: offered cipher {cols[1]} is not ECDHE + AEAD")
    if "PFS" in by_id and first("PFS") != "offered":
        failures.append(f"PFS: {first('PFS')}")
    # Failures from several rules about one finding are reported once.
    failures = list(dict.fromkeys(failures))

    summary = ["protocols:"]
    for p in ("SSLv2", "SSLv3", "TLS1", "TLS1_1", "TLS1_2", "TLS1_3", "ALPN"):
        if p in by_id:
            summary.append(f"  {p:<8} {first(p)}")
    summary.append("cipher classes:")
    for c in WEAK_CIPHER_CLASSES + ("cipherlist_STRONG",):
        if c in by_id:
            summary.append(f"  {c[len('cipherlist_'):]:<10} {first(c)}")
    summary.append(f"forward secrecy: {first('PFS')}; groups: {first('PFS_ECDHE_curves')}")
    summary.append(f"ciphers offered ({len(offered)}, all ECDHE/TLS 1.3 + AEAD: "
                   f"{'yes' if offered and all(cipher_is_strong(c) for c in offered) else 'NO'}): {' '.join(offered)}")
    vulns_ok = sum(1 for v in VULNERABILITIES if v in by_id and by_id[v][0].get("severity") in ("OK", "INFO"))
    summary.append(f"vulnerabilities: {vulns_ok} of {len(VULNERABILITIES)} checks OK or INFO")
    if "scanTime" in by_id:
        summary.append(f"scan time: {first('scanTime')} s (testssl's own count)")
    return failures, accepted, warnings, summary


def self_test():
    """Each rule fails on a made-up finding, and a clean made-up scan passes."""
    def f(i, sev, text):
        return {"id": i, "severity": sev, "finding": text}
    clean = ([f(p, "OK" if p.startswith("SSL") else "INFO", "not offered") for p in OLD_PROTOCOLS]
             + [f("TLS1_2", "OK", "offered"), f("TLS1_3", "OK", "offered with final"), f("PFS", "OK", "offered"),
                f("PFS_ECDHE_curves", "OK", "X25519")]
             + [f(c, "OK", "not offered") for c in WEAK_CIPHER_CLASSES]
             + [f(v, "OK", "not vulnerable") for v in VULNERABILITIES]
             + [f("cipher_x1301", "INFO", "x1301   TLS_AES_128_GCM_SHA256            ECDH 253   AESGCM      128"),
                f("cipher_xc02b", "INFO", "xc02b   ECDHE-ECDSA-AES128-GCM-SHA256     ECDH 253   AESGCM      128"),
                f("cipher_order", "HIGH", "NOT a cipher order configured")])

    def replaced(i, new):
        return [new if x["id"] == i else x for x in clean]
    cases = {
        "clean": (clean, False),
        "TLS 1.0 offered (INFO)": (replaced("TLS1", f("TLS1", "INFO", "offered")), True),
        "SSLv3 offered": (replaced("SSLv3", f("SSLv3", "HIGH", "offered (NOT ok)")), True),
        "3DES offered": (replaced("cipherlist_3DES_IDEA", f("cipherlist_3DES_IDEA", "MEDIUM", "offered")), True),
        "CBC offered": (replaced("cipherlist_AVERAGE", f("cipherlist_AVERAGE", "LOW", "offered")), True),
        "a non-FS cipher": (clean + [f("cipher_x9c", "INFO", "x9c     AES128-GCM-SHA256                 RSA        AESGCM      128")], True),
        "a CBC ECDHE cipher": (clean + [f("cipher_xc009", "INFO", "xc009   ECDHE-ECDSA-AES128-SHA            ECDH 253   AES         128")], True),
        "vulnerable": (replaced("heartbleed", f("heartbleed", "CRITICAL", "VULNERABLE")), True),
        "vulnerable at INFO": (replaced("LUCKY13", f("LUCKY13", "INFO", "potentially vulnerable, uses cipher block chaining")), True),
        "an unlisted LOW": (clean + [f("HSTS", "LOW", "not offered")], True),
        "scan problem": (clean + [f("scanProblem", "FATAL", "can't connect")], True),
        "a missing finding": ([x for x in clean if x["id"] != "ROBOT"], True),
        "a required check not run": (replaced("SSLv3", f("SSLv3", "WARN", "connect problem")), True),
        "another check not run": (clean + [f("sessionresumption_ticket", "WARN", "connect problem")], False),
    }
    bad = 0
    for name, (findings, should_fail) in cases.items():
        failures, _, _, _ = judge(findings)
        ok = bool(failures) == should_fail
        bad += 0 if ok else 1
        print(f"{'PASS' if ok else 'FAIL'}  judge: {name} -> {'fails' if failures else 'passes'}")
    return bad


def main():
    if sys.argv[1:] == ["--self-test"]:
        sys.exit(1 if self_test() else 0)
    if len(sys.argv) != 2:
        print(__doc__.strip().splitlines()[-2].strip(), file=sys.stderr)
        sys.exit(2)
    with open(sys.argv[1]) as fh:
        findings = json.load(fh)
    if isinstance(findings, dict):          # --jsonfile-pretty wraps the list
        findings = [x for s in findings.get("scanResult", []) for k, v in s.items() if isinstance(v, list) for x in v]
    failures, accepted, warnings, summary = judge(findings)
    print("findings of severity LOW or above (and checks testssl could not run):")
    for line in failures:
        print(f"  FAILING   {line}")
    for line in accepted:
        print(f"  accepted  {line}")
    for line in warnings:
        print(f"  not run   {line} (not a finding about the server)")
    if not failures and not accepted and not warnings:
        print("  none")
    for line in summary:
        print(line)
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
