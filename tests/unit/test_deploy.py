"""The deployment files hold together: every Kubernetes manifest validates (strictly) against the schemas
`kubernetes-validate` ships, offline; the scenario in the ConfigMap is a valid scenario; master and workers
agree on the master's address, the worker count and the credential names (those of harness.contract.Env);
the container image runs `harness` as a non-root user, from a Debian base."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from harness.contract import Env
from harness.scenario import load_scenario

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
KUBERNETES_VERSION = "1.31.0"  # the oldest minor version still maintained upstream when this was written


def manifests() -> dict[str, dict[str, Any]]:
    out = {}
    for path in sorted((DEPLOY / "kubernetes").glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            out[f"{doc['kind']}/{doc['metadata']['name']}"] = doc
    return out


@pytest.mark.parametrize("name", sorted(manifests()))
def test_each_manifest_is_valid_kubernetes(name: str) -> None:
    kubernetes_validate.validate(manifests()[name], KUBERNETES_VERSION, strict=True)


def test_the_kinds_the_issue_asks_for_are_there() -> None:
    kinds = {name.split("/")[0] for name in manifests()}
    assert {"Job", "Deployment", "ConfigMap", "Secret", "Service"} <= kinds


def test_the_configmap_scenario_is_a_valid_scenario(tmp_path: Path) -> None:
    path = tmp_path / "scenario.yaml"
    path.write_text(manifests()["ConfigMap/harness-scenario"]["data"]["scenario.yaml"])
    assert load_scenario(path).name == "k8s-brownout"


def container(doc: dict[str, Any]) -> dict[str, Any]:
    spec = doc["spec"]["template"]["spec"]
    (only,) = spec["containers"]
    return dict(only)


def test_master_and_workers_agree() -> None:
    docs = manifests()
    master, worker = container(docs["Job/harness-run"]), container(docs["Deployment/harness-worker"])
    service = docs["Service/harness-master"]
    margs, wargs = master["args"], worker["args"]
    bind_port = int(margs[margs.index("--master-bind") + 1].rsplit(":", 1)[1])
    assert wargs[wargs.index("--master") + 1] == f"{service['metadata']['name']}:{service['spec']['ports'][0]['port']}"
    assert service["spec"]["ports"][0]["targetPort"] == bind_port
    assert int(margs[margs.index("--expect-workers") + 1]) == docs["Deployment/harness-worker"]["spec"]["replicas"]
    assert margs[margs.index("--listen") + 1] == "$(POD_IP)"
    selector = service["spec"]["selector"]
    assert selector.items() <= docs["Job/harness-run"]["spec"]["template"]["metadata"]["labels"].items()
    secret = docs["Secret/harness-credentials"]["stringData"]
    for side in (master, worker):
        names = {e["name"] for e in side["env"] if "secretKeyRef" in e.get("valueFrom", {})}
        assert Env.CLIENT_SECRET in names
        assert names <= set(secret) and names <= {v for k, v in vars(Env).items() if k.isupper()}


def test_the_image_runs_harness_as_a_non_root_user_from_debian() -> None:
    recipe = (DEPLOY / "container" / "Containerfile").read_text()
    assert re.search(r"^FROM \$\{BASE\}", recipe, re.MULTILINE) and "debian" in recipe.lower()
    assert re.search(r'^ENTRYPOINT \["harness"\]', recipe, re.MULTILINE)
    assert re.search(r"^USER 10001", recipe, re.MULTILINE)
    uid = {container(d)["name"]: d["spec"]["template"]["spec"]["securityContext"]["runAsUser"]
           for k, d in manifests().items() if k.split("/")[0] in ("Job", "Deployment")}  # fmt: skip
    assert set(uid.values()) == {10001}
