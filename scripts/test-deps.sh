#!/usr/bin/env bash
# Installs what the test suite needs on a Debian machine, when it is missing:
# Dovecot (IMAP + LMTP), Postfix, OpenDKIM, OpenDMARC and Unbound for the loopback mail
# stack, LibreOffice Writer to prove the report's DOCX opens, and a running PostgreSQL with a
# database the tests may use (MAILBOT_TEST_PG_URL, default
# postgresql+psycopg2://postgres@127.0.0.1:5432/test).
set -euo pipefail

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"

need=()
command -v dovecot >/dev/null 2>&1 || need+=(dovecot-imapd dovecot-lmtpd)
[ -x /usr/lib/dovecot/lmtp ] || need+=(dovecot-lmtpd)
command -v postfix >/dev/null 2>&1 || need+=(postfix)
command -v soffice >/dev/null 2>&1 || need+=(libreoffice-writer-nogui)
# the mail stack's sender verification: OpenDKIM and OpenDMARC as milters, Unbound for DNS
command -v opendkim >/dev/null 2>&1 || need+=(opendkim)
command -v opendmarc >/dev/null 2>&1 || need+=(opendmarc)
command -v unbound >/dev/null 2>&1 || need+=(unbound)
command -v unshare >/dev/null 2>&1 || need+=(util-linux)
command -v pg_ctlcluster >/dev/null 2>&1 || need+=(postgresql)
if [ ${#need[@]} -gt 0 ]; then
  echo "installing: ${need[*]}"
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  # postfix asks questions on install unless told it is a local-only system
  echo "postfix postfix/main_mailer_type select No configuration" | $SUDO debconf-set-selections
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
# the system instances are not used: the tests start their own on loopback high ports
$SUDO systemctl disable --now postfix dovecot opendkim opendmarc unbound >/dev/null 2>&1 || true

# PostgreSQL: make sure a server answers on 127.0.0.1:5432 with the test database
if ! pg_isready -q -h 127.0.0.1 -p 5432; then
  ver=$(ls /etc/postgresql | sort -V | tail -n1)
  $SUDO pg_ctlcluster --skip-systemctl-redirect "$ver" main start || $SUDO pg_ctlcluster "$ver" main start
  for _ in $(seq 1 50); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 0.2; done
fi
if [ -z "${MAILBOT_TEST_PG_URL:-}" ]; then
  if ! psql -h 127.0.0.1 -U postgres -d test -c 'select 1' >/dev/null 2>&1; then
    # a stock Debian cluster: password auth over TCP; give postgres a known test password
    $SUDO -u postgres psql -q -c "ALTER USER postgres PASSWORD 'postgres'" >/dev/null 2>&1 || \
      su postgres -c "psql -q -c \"ALTER USER postgres PASSWORD 'postgres'\"" >/dev/null
    PGPASSWORD=postgres psql -h 127.0.0.1 -U postgres -tAc "SELECT 1 FROM pg_database WHERE datname='test'" | grep -q 1 || \
      PGPASSWORD=postgres psql -h 127.0.0.1 -U postgres -q -c "CREATE DATABASE test"
  fi
fi
pg_isready -h 127.0.0.1 -p 5432
