#!/usr/bin/env bash
# Entrypoint of the gridpipe/flink-job image, with the contract of the official flink image's /docker-entrypoint.sh
# (the Flink Kubernetes Operator and Flink's docs assume it):
#   jobmanager [-Dkey=value ...]              a session JobManager in the foreground
#   taskmanager [-Dkey=value ...]             a TaskManager in the foreground
#   standalone-job --job-classname C [ARGS]   Flink's application mode: a JobManager that runs one job, e.g.
#                                             --job-classname org.apache.flink.client.python.PythonDriver
#                                             -pym gridpipe_jobs.job --pipeline-json ... (or --pipeline FILE)
#   history-server                            the history server in the foreground
#   help                                      this text
#   anything else                             run as given: the operator's `bash -c "kubernetes-jobmanager.sh
#                                             kubernetes-application"` and `bash -c "kubernetes-taskmanager.sh ..."`,
#                                             or `flink --version`, `python -m gridpipe_jobs.job --help`, ...
# Before any of them:
#   ENABLE_BUILT_IN_PLUGINS  jar names separated by ';' (e.g. flink-s3-fs-hadoop-2.2.0.jar): each is installed from
#                            $FLINK_HOME/opt as a plugin, or left as it is when a plugin of that artifact is installed
#                            already (this image has the S3 filesystem plugin in place).
#   FLINK_PROPERTIES         'key: value' lines, passed as -Dkey=value to the four Flink processes above (the
#                            configuration directory may be a read-only ConfigMap, so it is never edited).
#   DISABLE_JEMALLOC=true    do not preload jemalloc.
set -euo pipefail

: "${FLINK_HOME:=/opt/flink}"

install_plugins() {
    local requested jar artifact installed
    IFS=';' read -ra requested <<<"${ENABLE_BUILT_IN_PLUGINS:-}"
    for jar in "${requested[@]}"; do
        jar="${jar//[[:space:]]/}"
        [[ -n "$jar" ]] || continue
        artifact="${jar%.jar}"
        artifact="${artifact%-*}" # flink-s3-fs-hadoop-2.2.1 -> flink-s3-fs-hadoop
        installed=$(compgen -G "$FLINK_HOME/plugins/*/$artifact-*.jar" || true)
        if [[ -n "$installed" ]]; then
            echo "plugin $jar: $artifact is installed already (${installed//$'\n'/, })"
        elif [[ -f "$FLINK_HOME/opt/$jar" ]]; then
            mkdir -p "$FLINK_HOME/plugins/${jar%.jar}"
            cp "$FLINK_HOME/opt/$jar" "$FLINK_HOME/plugins/${jar%.jar}/"
            echo "plugin $jar: installed from $FLINK_HOME/opt"
        else
            echo "plugin $jar: not in $FLINK_HOME/opt and not installed; available: $(ls "$FLINK_HOME/opt")" >&2
            exit 1
        fi
    done
}

dynamic_properties=()
read_properties() {
    local line key value
    while IFS= read -r line; do
        [[ "$line" =~ ^[[:space:]]*([^:#[:space:]][^:]*):[[:space:]]*(.*)$ ]] || continue
        key="${BASH_REMATCH[1]}"
        value="${BASH_REMATCH[2]}"
        dynamic_properties+=("-D${key%"${key##*[![:space:]]}"}=${value%"${value##*[![:space:]]}"}")
    done <<<"${FLINK_PROPERTIES:-}"
}

if [[ "${DISABLE_JEMALLOC:-false}" != "true" ]]; then
    for library in /usr/lib/*-linux-gnu/libjemalloc.so.2; do
        [[ -f "$library" ]] && export LD_PRELOAD="${LD_PRELOAD:+$LD_PRELOAD:}$library"
    done
fi
install_plugins
read_properties

command="${1:-help}"
case "$command" in
    jobmanager)
        shift
        exec "$FLINK_HOME/bin/jobmanager.sh" start-foreground "${dynamic_properties[@]}" "$@"
        ;;
    taskmanager)
        shift
        exec "$FLINK_HOME/bin/taskmanager.sh" start-foreground "${dynamic_properties[@]}" "$@"
        ;;
    standalone-job)
        shift
        exec "$FLINK_HOME/bin/standalone-job.sh" start-foreground "${dynamic_properties[@]}" "$@"
        ;;
    history-server)
        shift
        exec "$FLINK_HOME/bin/historyserver.sh" start-foreground "${dynamic_properties[@]}" "$@"
        ;;
    help | --help | -h)
        sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'
        ;;
    *)
        exec "$@"
        ;;
esac
