#!/bin/sh
# Generate mxd.conf(5) from the settings table itself ("mxctl config -d": every name with its default)
# and the descriptions in mxd.conf.settings, into the template mxd.conf.5.in (at its @SETTINGS@ line).
# The page therefore lists exactly the settings the programs accept, with their real defaults.
#   usage: gen-mxd.conf.5.sh MXCTL SETTINGS_FILE TEMPLATE OUTPUT
# A setting of the table that has no description is listed under "Other settings" and named on
# stderr; a described setting the table does not hold (yet) is left out.
set -eu
if [ $# -ne 4 ]; then
	echo "usage: $0 MXCTL SETTINGS_FILE TEMPLATE OUTPUT" >&2
	exit 2
fi
mxctl=$1 settings=$2 template=$3 out=$4
defaults="$out.defaults.$$"
trap 'rm -f "$defaults" "$out.tmp.$$"' EXIT
MXD_CONFIG=/dev/null "$mxctl" -c /dev/null config -d >"$defaults"

awk -F '\t' -v defaults="$defaults" -v template="$template" '
function esc(s) {
	gsub(/\\/, "\\e", s)
	gsub(/-/, "\\-", s)
	return s
}
function entry(name, text) {
	print ".TP"
	if (def[name] == "")
		print "\\fB" esc(name) "\\fR ="
	else
		print "\\fB" esc(name) "\\fR = \\fI" esc(def[name]) "\\fR"
	print "\\&" esc(text)
}
BEGIN {
	while ((getline line < defaults) > 0) {
		i = index(line, " = ")
		if (i == 0)
			continue
		name = substr(line, 1, i - 1)
		order[++n] = name
		def[name] = substr(line, i + 3)
		sub(/ +$/, "", def[name])
		known[name] = 1
	}
	if (n == 0) {
		print "gen-mxd.conf.5: no settings from mxctl config -d" > "/dev/stderr"
		exit 1
	}
}
/^#/ || /^[ \t]*$/ { next }
/^== / { sections[++nsec] = substr($0, 4); next }
{
	if (NF < 2 || $2 == "") {
		print "gen-mxd.conf.5: " FILENAME ":" FNR ": expected name<TAB>description" > "/dev/stderr"
		failed = 1
		exit 1
	}
	desc[$1] = $2
	members[nsec] = members[nsec] " " $1
}
END {
	if (failed || n == 0)
		exit 1
	while ((getline line < template) > 0) {
		if (line !~ /@SETTINGS@/) {
			print line
			continue
		}
		for (s = 1; s <= nsec; s++) {
			m = split(members[s], names, " ")
			shown = 0
			for (k = 1; k <= m; k++) {
				if (!(names[k] in known))
					continue
				if (!shown++)
					print ".SH " toupper(sections[s])
				entry(names[k], desc[names[k]])
				used[names[k]] = 1
			}
		}
		other = ""
		for (k = 1; k <= n; k++) {
			if (order[k] in used)
				continue
			if (other == "")
				print ".SH OTHER SETTINGS"
			entry(order[k], "Not described yet: see mxctl config.")
			other = other " " order[k]
		}
		if (other != "")
			print "gen-mxd.conf.5: settings without a description:" other > "/dev/stderr"
	}
}
' "$settings" >"$out.tmp.$$"
mv "$out.tmp.$$" "$out"
