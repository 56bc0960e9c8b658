# shellcheck shell=sh
# DistributionPostgres: the PostgreSQL major installed (else the distribution's), whether
# there are apt lists, and the pgvector package for it (in the apt sources, installed).
# shellcheck disable=SC2012  # version directories: digits only
major=$(ls /usr/lib/postgresql 2>/dev/null | sort -n | tail -n 1)
[ -n "$major" ] || major=$(apt-cache depends postgresql 2>/dev/null \
    | sed -n 's/^ *Depends: postgresql-\([0-9][0-9]*\)$/\1/p' | head -n 1)
echo "major $major"
ls /var/lib/apt/lists/*_Packages >/dev/null 2>&1 && echo 'apt_lists yes'
if [ -n "$major" ] && apt_has_package "postgresql-$major-pgvector"; then
    echo "pgvector postgresql-$major-pgvector"
fi
# shellcheck disable=SC2016  # ${Status} is dpkg-query's field, not the shell's
dpkg-query -W -f '${Status}' "postgresql-$major-pgvector" 2>/dev/null \
    | grep -q 'ok installed' && echo 'pgvector_installed yes'
true
