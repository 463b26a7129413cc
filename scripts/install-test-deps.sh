#!/usr/bin/env bash
# Installs every dependency the test suite needs: Debian packages, then the Python
# virtualenv with the official ONTAP client. Idempotent; safe to run on a fresh machine.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(
  # Python for the conformance suite
  python3-venv
  # Scan server (crates/scan tests): the real clamd to compare replies with, clamdscan
  # as the client, ClamAV's standard test files, Samba's vfs_virusfilter, c-icap.
  # samba (smbd), samba-vfs-modules (virusfilter.so) and smbclient also serve the Samba
  # door's tests (tests/conformance/test_samba.py).
  clamav-daemon
  clamav
  clamav-testfiles
  clamdscan
  samba
  samba-vfs-modules
  smbclient
  c-icap
  libc-icap-mod-virus-scan
  # xmllint: crates/mav validates its XML responses against its XSD schemas.
  libxml2-utils
  # S3 clients for the S3 server's tests (test_s3_clients.py); aws CLI comes from PyPI
  # (requirements.txt) so that it shares boto3's botocore.
  rclone
  s3cmd
  # PostgreSQL, the cluster backend: tests start throwaway servers with initdb.
  postgresql
  # libfaketime: the conformance suite runs a second time a year and a month ahead, so
  # that a test depending on today's date fails here instead of on a later day.
  faketime
  # The web console's browser tests (test_console_browser.py): headless Chromium driven
  # over WebDriver by chromedriver.
  chromium
  chromium-driver
  # The Debian package (test_package.py): dpkg-shlibdeps and strip build it, adduser is
  # its dependency, systemd-analyze checks the unit.
  dpkg-dev
  binutils
  adduser
  systemd
)

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
.venv/bin/pip install -q -r tests/conformance/requirements.txt
