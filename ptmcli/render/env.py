"""Markdown-style text of `ptm env`, ready to paste into a bug report."""

from pathlib import Path

from ptmcli.i18n import _
from ptmcli.render.models import human_size


def _short_path(path: str) -> str:
    # The home folder is the user's name on most machines; ~ keeps it out of public reports.
    home = str(Path.home())
    return "~" + path[len(home):] if home not in ("", "/") and path.startswith(home) else path


def _yes_no(value: bool) -> str:
    return _("yes") if value else _("no")


def _reachable(hub: dict) -> str:
    if hub["reachable"] is not None:
        return _yes_no(hub["reachable"])
    return _("not checked (offline mode)") if hub["offline_requested"] else _("not checked (--no-probe)")


def environment_lines(record: dict) -> list[str]:
    devices = record["devices"]
    hub = record["hub"]
    cache = record["hf_cache"]
    lines = [
        _("## ptm environment"),
        "",
        f"- ptm: {record['ptm_version']}",
        _("- Python: {version} ({implementation}, {executable})").format(
            version=record["python_version"], implementation=record["python_implementation"],
            executable=_short_path(record["python_executable"])),
        _("- OS: {os} ({machine})").format(os=record["os"], machine=record["machine"]),
        _("- CPUs: {count}").format(count=record["cpu_count"]),
    ]
    not_installed = _("not installed")
    for name, version in record["packages"].items():
        lines.append(f"- {name}: {version or not_installed}")

    if devices["cuda_available"]:
        cuda = _("yes, CUDA {version}: {names}").format(version=devices["cuda_version"],
                                                        names=", ".join(devices["cuda_devices"]))
    elif devices["cuda_version"]:
        cuda = _("no (torch built for CUDA {version}, but no GPU is visible)").format(version=devices["cuda_version"])
    else:
        cuda = _("no (CPU-only torch)")
    lines += [
        _("- CUDA: {state}").format(state=cuda),
        _("- MPS: {state}").format(state=_yes_no(devices["mps_available"])),
        _("- Hub endpoint: {endpoint}{origin}").format(
            endpoint=hub["endpoint"], origin=_(" (from HF_ENDPOINT)") if hub["endpoint_from_environment"] else ""),
        _("- Hub reachable: {state}").format(state=_reachable(hub)),
    ]
    if hub["offline_requested"]:
        lines.append(_("- Offline mode: on (HF_HUB_OFFLINE)"))
    if hub["proxy"]:
        lines.append(_("- HTTPS proxy: set"))
    if cache["exists"]:
        lines.append(_("- Hugging Face cache: {path} ({size}, {models} models, {datasets} datasets)").format(
            path=_short_path(cache["path"]), size=human_size(cache["size_bytes"]), models=cache["models"],
            datasets=cache["datasets"]))
    else:
        lines.append(_("- Hugging Face cache: {path} (empty)").format(path=_short_path(cache["path"])))
    lines.append(_("- PTM_HOME: {path}").format(path=_short_path(record["ptm_home"])))
    states = {"prepared": _("prepared"), "built-in": _("built in"), "not prepared": _("not prepared")}
    for pack in record["packs"]:
        size = f", {human_size(pack['size_bytes'])}" if pack["size_bytes"] else ""
        lines.append(_("- pack {name}: {state}{size}").format(
            name=pack["name"], state=states.get(pack["state"], pack["state"]), size=size))
    settings = ", ".join(f"{name}={value}" for name, value in record["language_settings"].items())
    lines.append(_("- Language: {language} ({settings})").format(language=record["language"],
                                                                 settings=settings or _("no locale variables")))
    return lines
