#!/bin/sh
# Install the standalone Inkwell for the current user, or remove it again:
#
#     ./install.sh              copy this folder to ~/.local/lib/inkwell, link ~/.local/bin/inkwell,
#                               add the menu entry, icons and AppStream metainfo under ~/.local/share
#     ./install.sh --uninstall  remove all of that (your settings, models and autosaves stay;
#                               the README says where they live)
#
# PREFIX=/usr/local sudo ./install.sh installs for everyone instead (/usr/local/lib/inkwell ...).
set -eu
APP_ID=io.github.inkwell.Inkwell
PREFIX=${PREFIX:-$HOME/.local}
HERE=$(cd "$(dirname "$0")" && pwd)
LIB="$PREFIX/lib/inkwell"
BIN="$PREFIX/bin/inkwell"
SHARE="$PREFIX/share"
SIZES="16x16 24x24 32x32 48x48 64x64 128x128 256x256 512x512"

refresh() {
    command -v update-desktop-database >/dev/null 2>&1 && update-desktop-database -q "$SHARE/applications" || true
    command -v gtk-update-icon-cache >/dev/null 2>&1 && gtk-update-icon-cache -q -t "$SHARE/icons/hicolor" || true
}

if [ "${1:-}" = "--uninstall" ]; then
    rm -rf "$LIB"
    [ -L "$BIN" ] && rm -f "$BIN"
    rm -f "$SHARE/applications/$APP_ID.desktop" "$SHARE/metainfo/$APP_ID.metainfo.xml" \
          "$SHARE/icons/hicolor/scalable/apps/$APP_ID.svg"
    for size in $SIZES; do rm -f "$SHARE/icons/hicolor/$size/apps/$APP_ID.png"; done
    refresh
    echo "Inkwell removed from $PREFIX"
    exit 0
fi
if [ -n "${1:-}" ]; then
    echo "usage: $0 [--uninstall]" >&2
    exit 2
fi
[ -x "$HERE/inkwell" ] || { echo "$HERE/inkwell not found: run install.sh from the unpacked Inkwell folder" >&2; exit 1; }

if [ "$HERE" != "$LIB" ]; then
    rm -rf "$LIB.new"
    mkdir -p "$(dirname "$LIB")"
    cp -a "$HERE" "$LIB.new"      # copy first, then swap: a failed copy leaves the old install working
    rm -rf "$LIB"
    mv "$LIB.new" "$LIB"
fi
mkdir -p "$PREFIX/bin" "$SHARE/applications" "$SHARE/metainfo"
ln -sf "$LIB/inkwell" "$BIN"
# The menu entry runs the installed program by its full path, whether or not ~/.local/bin is on PATH.
sed "s|^Exec=inkwell|Exec=$LIB/inkwell|" "$LIB/share/applications/$APP_ID.desktop" > "$SHARE/applications/$APP_ID.desktop"
cp "$LIB/share/metainfo/$APP_ID.metainfo.xml" "$SHARE/metainfo/"
mkdir -p "$SHARE/icons/hicolor/scalable/apps"
cp "$LIB/share/icons/hicolor/scalable/apps/$APP_ID.svg" "$SHARE/icons/hicolor/scalable/apps/"
for size in $SIZES; do
    mkdir -p "$SHARE/icons/hicolor/$size/apps"
    cp "$LIB/share/icons/hicolor/$size/apps/$APP_ID.png" "$SHARE/icons/hicolor/$size/apps/"
done
refresh
echo "Inkwell installed: $BIN (menu entry $APP_ID)"
case ":$PATH:" in *":$PREFIX/bin:"*) ;; *) echo "note: $PREFIX/bin is not on your PATH" ;; esac
