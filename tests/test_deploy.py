"""Deployment files: the Dockerfile passes hadolint, the Kubernetes manifests validate.

No cluster is available here: manifests are checked against the Kubernetes API schemas
that kubernetes-validate ships, offline. The image itself is built and run by
tests/container/run.sh (make test-container, called by .ci/run).
"""

import shutil
import subprocess
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from tests.support import PROJECT_ROOT

K8S = PROJECT_ROOT / "deploy" / "k8s"
KUBERNETES_VERSION = "1.33"


def test_dockerfile_passes_hadolint() -> None:
    hadolint = shutil.which("hadolint") or str(Path(PROJECT_ROOT / ".venv" / "bin" / "hadolint"))
    result = subprocess.run(
        [hadolint, "--failure-threshold", "error", str(PROJECT_ROOT / "Dockerfile")],
        capture_output=True,
        text=True,
        check=False,
    )
    print(result.stdout or "hadolint: no findings")
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("manifest", sorted(K8S.glob("*.yaml")), ids=lambda p: p.name)
def test_kubernetes_manifests_validate(manifest: Path) -> None:
    for document in yaml.safe_load_all(manifest.read_text()):
        kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)


def test_deployment_is_locked_down_and_probed() -> None:
    deployment = yaml.safe_load((K8S / "deployment.yaml").read_text())
    pod = deployment["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert container["readinessProbe"]["httpGet"]["path"] == "/health/ready"
    assert container["livenessProbe"]["httpGet"]["path"] == "/health/live"
    assert container["resources"]["limits"]["memory"]
    kinds = {yaml.safe_load(p.read_text())["kind"] for p in K8S.glob("*.yaml")}
    assert kinds == {
        "ConfigMap",
        "Deployment",
        "Service",
        "HorizontalPodAutoscaler",
        "PodDisruptionBudget",
    }


def test_every_configmap_setting_is_a_service_setting() -> None:
    from service.settings import ServiceSettings

    settings = yaml.safe_load((K8S / "configmap.yaml").read_text())["data"]
    known = {name.upper() for name in ServiceSettings.model_fields}
    assert set(settings) <= known
