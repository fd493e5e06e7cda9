"""code.network: no network or download call is reachable when the submission runs.

Calls into network libraries and subprocesses that run download tools are findings
in the code a run executes (the entry, what it decodes, the shipped modules it
imports); the same calls in a data-preparation helper beside the entry are notes.
"""

from __future__ import annotations

from pathlib import Path

from harness.core.finding import Finding
from verifier.model import Rule
from verifier.rules.common import code_evidence, code_units
from verifier.rules.registration import README_SOURCE, rule
from verifier.static.facts import CodeUnit
from verifier.subject import Subject

_NET_MODULES = {"socket", "urllib.request", "urllib3", "requests", "httpx", "aiohttp", "http.client",
                "ftplib", "paramiko", "websocket", "websockets", "huggingface_hub", "wget", "pycurl"}
_NET_CALL_TAILS = {"urlopen", "urlretrieve", "hf_hub_download", "snapshot_download", "load_dataset",
                   "create_connection", "download_url_to_file", "load_state_dict_from_url", "hf_hub_url",
                   "cached_download", "list_repo_files"}
_NET_PREFIXES = ("requests.", "httpx.", "aiohttp.", "urllib.request.", "urllib3.", "socket.", "http.client.",
                 "huggingface_hub.", "torch.hub.", "wget.", "ftplib.")
_NET_TOOLS = {"curl", "wget", "aria2c", "scp", "rsync", "ssh", "sftp", "ftp", "nc", "huggingface-cli", "hf"}
SUBPROCESS_CALLS = ("subprocess.run", "subprocess.Popen", "subprocess.call", "subprocess.check_call",
               "subprocess.check_output", "os.system", "os.popen", "os.execvp", "os.spawnlp")
_SUBPROCESS_TAILS = tuple("." + x.split(".")[-1] for x in SUBPROCESS_CALLS[:5])


def argv0(call_args: tuple[str, ...]) -> list[str]:
    """Program names in a subprocess call's literal arguments (argv lists or shell strings)."""
    out = []
    for a in call_args:
        tok = a.strip().split()
        if tok:
            out.append(Path(tok[0]).name)
            # shell pipelines: "cd x && curl ..." - look at every command word after a separator
            for i, t in enumerate(tok[1:], start=1):
                if tok[i - 1] in ("&&", "||", "|", ";"):
                    out.append(Path(t).name)
    return out


@rule("code.network", "no network or download calls reachable at run time",
      since="2026-03-18", severity="error", group="code",
      source=README_SOURCE + "'No external downloads, training dataset access, or network calls are allowed "
      "during evaluation' (README.md:209)", requires="code")
def check_network(s: Subject, r: Rule) -> list[Finding]:
    units = code_units(s)
    out: list[Finding] = []
    runs = {id(x) for x in _running_units(s)}
    for u in units:
        helper = id(u) not in runs
        for c in u.calls:
            tail = c.name.rsplit(".", 1)[-1]
            is_net = tail in _NET_CALL_TAILS or (c.name.startswith(_NET_PREFIXES) and not c.name.endswith(
                ("gethostname", "getfqdn", "gethostbyname", "AF_INET")))
            tools = []
            if c.name in SUBPROCESS_CALLS or c.name.endswith(_SUBPROCESS_TAILS):
                tools = [t for t in argv0(c.str_args) if t in _NET_TOOLS]
                if any(a.strip().startswith(("git clone", "pip install", "git fetch", "git pull")) for a in c.str_args):
                    tools.append("git/pip")
                if c.str_args[:2] in (("git", "clone"), ("pip", "install"), ("git", "fetch")):
                    tools.append(" ".join(c.str_args[:2]))
            if is_net or tools:
                what = f"subprocess runs {', '.join(sorted(set(tools)))}" if tools else f"calls {c.name}()"
                where = f" in {c.function}()" if c.function else " at module level"
                if helper:  # a data-download helper shipped beside the entry, which neither imports nor runs it
                    out.append(r.finding(f"{u.path}: {what}{where}: a helper the entry does not import (data "
                                         "preparation), not part of the run", status="observation",
                                         severity="info", evidence=[code_evidence(u, c.line)], call=c.name,
                                         function=c.function))
                    continue
                out.append(r.finding(f"{what}{where}; a run must not reach the network "
                                     "(confirm with a network-off run)", evidence=[code_evidence(u, c.line)],
                                     call=c.name, function=c.function))
        for imp in u.imports:
            if imp.module in _NET_MODULES or imp.module.split(".")[0] in ("requests", "httpx", "huggingface_hub"):
                if not any(f.evidence and f.evidence[0].file == u.path for f in out):
                    out.append(r.finding(f"imports {imp.module} (no call found statically; an import alone "
                                         "does not reach the network)", status="needs_runtime_probe",
                                         severity="info", evidence=[code_evidence(u, imp.line)], module=imp.module))
    return out


def _running_units(s: Subject) -> list[CodeUnit]:
    """The entry, what it decodes, and the shipped modules it imports (transitively): the code a run executes."""
    units = s.entry_units()
    by_stem = {Path(p).stem: u for p, u in s.code_units.items()}
    todo, seen = list(units), {id(u) for u in units}
    while todo:
        u = todo.pop()
        for imp in u.imports:
            dep = by_stem.get(imp.module.lstrip(".").split(".")[0])
            if dep is not None:
                for d in dep.all_units():
                    if id(d) not in seen:
                        seen.add(id(d))
                        units.append(d)
                        todo.append(d)
    return units or s.all_units()

