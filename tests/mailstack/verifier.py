"""The test mail stack's sender verification: OpenDKIM and OpenDMARC as Postfix milters.

Place in the project: test infrastructure, started by ``stack.MailStack``.
Mail that reaches the stack's Postfix is checked by real verifiers, which
write the ``Authentication-Results`` fields the desk trusts (authserv-id
``mx.example.test``), as a receiving server in production does.

* **Keys.** A signing key for each of the stack's sending domains
  (``example.test``, whose focal points and officers the tests play, and
  ``evil.test``, an attacker's own domain). ``MailStack.send`` signs with
  them (dkimpy), as the sender's own outgoing server would.
* **DNS.** OpenDMARC asks the system's resolver for ``_dmarc`` records, so the
  verifiers run in a network and mount namespace of their own: there an
  Unbound on 127.0.0.1:53 serves the test zones and ``/etc/resolv.conf`` names
  it, while the milters' UNIX sockets in the stack's root stay reachable by
  Postfix. OpenDKIM reads the public keys from its ``TestPublicKeys`` file
  (its libunbound resolver did not answer from the local server here).
* Nothing outside the stack's root is changed; stopping kills the namespace's
  processes.
"""

from __future__ import annotations

import base64
import contextlib
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import dkim

AUTHSERV_ID = "mx.example.test"
SELECTOR = "mail"
#: domain -> its DMARC policy record
DOMAINS = {"example.test": "v=DMARC1; p=reject", "evil.test": "v=DMARC1; p=none"}
BINARIES = ("opendkim", "opendmarc", "unbound", "unshare")
PACKAGES = ("opendkim", "opendmarc", "unbound", "util-linux")
#: the address no connection comes from: nothing is "internal" (signed instead of verified)
NOBODY = "192.0.2.1"
_SUFFIXES = ("/usr/share/publicsuffix/public_suffix_list.dat",
             "/usr/share/publicsuffix/effective_tld_names.dat")

_ISLAND = """set -e
ip link set lo up
mount --bind {root}/resolv.conf /etc/resolv.conf
unbound -c {root}/unbound.conf > {root}/unbound.out 2>&1 &
opendkim -f -x {root}/opendkim.conf > {root}/opendkim.out 2>&1 &
opendmarc -f -c {root}/opendmarc.conf > {root}/opendmarc.out 2>&1 &
wait
"""


class VerifierError(RuntimeError):
    """The verifiers did not start; the message says which and why."""


class Verifier:
    """OpenDKIM, OpenDMARC and their resolver in a namespace, for one mail stack."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.process: subprocess.Popen[bytes] | None = None
        self.keys: dict[str, bytes] = {}

    @property
    def milters(self) -> str:
        """Postfix's ``smtpd_milters`` value: DKIM first, so DMARC reads its result."""
        return f"unix:{self.root}/run/opendkim.sock, unix:{self.root}/run/opendmarc.sock"

    def start(self, timeout: float = 10.0) -> None:
        missing = [b for b in BINARIES if shutil.which(b) is None]
        if missing:
            raise VerifierError(f"not installed: {', '.join(missing)}")
        (self.root / "run").mkdir(parents=True, exist_ok=True)
        (self.root / "run").chmod(0o777)  # Postfix's smtpd (user postfix) connects
        self._write_keys()
        self._write_config()
        self.process = subprocess.Popen(
            ["unshare", "--net", "--mount", "--fork", "sh", str(self.root / "island.sh")],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        (self.root / "island.pid").write_text(str(self.process.pid))
        self._wait(timeout)

    def stop(self) -> None:
        """Kill the namespace's processes (also those of a stack started by another process)."""
        pid_file = self.root / "island.pid"
        pid = self.process.pid if self.process is not None else (
            int(pid_file.read_text()) if pid_file.exists() else None)
        if pid is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGKILL)
        if self.process is not None:
            self.process.wait(10)
            self.process = None
        pid_file.unlink(missing_ok=True)

    def sign(self, raw: bytes, domain: str) -> bytes:
        """``raw`` with a DKIM signature of ``domain`` on top (its From, To, Subject, Date,
        Message-ID and threading fields signed), as that domain's outgoing server would add."""
        headers = [b"from", b"to", b"cc", b"subject", b"date", b"message-id", b"in-reply-to",
                   b"references", b"mime-version", b"content-type"]
        if domain not in self.keys:  # a stack started by another process: its key on disk
            self.keys[domain] = (self.root / f"{domain}.pem").read_bytes()
        signature = dkim.sign(raw, SELECTOR.encode(), domain.encode(), self.keys[domain],
                              include_headers=headers)
        return signature + raw

    # -- set-up -----------------------------------------------------------------------

    def _write_keys(self) -> None:
        for domain in DOMAINS:
            pem = self.root / f"{domain}.pem"
            if not pem.exists():
                subprocess.run(["openssl", "genrsa", "-out", str(pem), "2048"], check=True,
                               capture_output=True)
            self.keys[domain] = pem.read_bytes()

    def _public(self, domain: str) -> str:
        der = subprocess.run(["openssl", "rsa", "-in", str(self.root / f"{domain}.pem"), "-pubout",
                              "-outform", "DER"], check=True, capture_output=True).stdout
        return base64.b64encode(der).decode()

    def _write_config(self) -> None:
        root = self.root
        keys = "".join(f"{SELECTOR}._domainkey.{d} v=DKIM1; k=rsa; p={self._public(d)}\n"
                       for d in DOMAINS)
        (root / "keys.txt").write_text(keys)
        (root / "nobody.hosts").write_text(NOBODY + "\n")
        (root / "resolv.conf").write_text("nameserver 127.0.0.1\n")
        zones = "".join(f'  local-zone: "{d}." static\n'
                        f"  local-data: '_dmarc.{d}. 300 IN TXT \"{policy}\"'\n"
                        for d, policy in DOMAINS.items())
        (root / "unbound.conf").write_text(
            f'server:\n  interface: 127.0.0.1\n  port: 53\n  do-daemonize: no\n  username: ""\n'
            f'  chroot: ""\n  directory: "{root}"\n  use-syslog: no\n  logfile: "{root}/unbound.log"\n'
            f"  do-ip6: no\n  access-control: 127.0.0.0/8 allow\n{zones}"
            "remote-control:\n  control-enable: no\n")
        (root / "opendkim.conf").write_text(
            f"Mode v\nSocket local:{root}/run/opendkim.sock\nAuthservID {AUTHSERV_ID}\n"
            f"Background no\nTestPublicKeys {root}/keys.txt\nInternalHosts refile:{root}/nobody.hosts\n"
            f"PeerList refile:{root}/nobody.hosts\nAlwaysAddARHeader yes\nSyslog no\nUMask 000\n"
            "UserID root\n")
        suffixes = next((s for s in _SUFFIXES if Path(s).exists()), "")
        (root / "opendmarc.conf").write_text(
            f"Socket local:{root}/run/opendmarc.sock\nAuthservID {AUTHSERV_ID}\n"
            f"TrustedAuthservIDs {AUTHSERV_ID}\nIgnoreHosts {root}/nobody.hosts\nBackground false\n"
            "Syslog false\nUMask 000\nUserID root\nSPFIgnoreResults true\nSPFSelfValidate false\n"
            + (f"PublicSuffixList {suffixes}\n" if suffixes else ""))
        (root / "island.sh").write_text(_ISLAND.format(root=root))

    def _wait(self, timeout: float) -> None:
        sockets = [self.root / "run" / "opendkim.sock", self.root / "run" / "opendmarc.sock"]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if all(s.exists() for s in sockets):
                return
            if self.process is not None and self.process.poll() is not None:
                break
            time.sleep(0.02)
        logs = "".join(f"\n{p.name}: {p.read_text(errors='replace')[-800:]}"
                       for p in sorted(self.root.glob("*.out")))
        self.stop()
        raise VerifierError(f"the milters did not start within {timeout:.0f} s{logs}")
