"""A small, honest ``kustomize build`` for the tests: only what deploy/k8s uses, loudly nothing else.

The kustomize binary is not installable from the registries this project uses (``kubectl
kustomize`` is, where kubectl is installed; a test compares the two when it is). This builds a
kustomization from ``resources`` (files and directories), ``namespace``, ``images`` and
``patches`` — strategic-merge patches from a file (target found by the patch's kind and name) and
JSON 6902 patches with an inline ``patch`` (add, replace, remove). Any other field of a
kustomization, or a ``$patch`` directive, raises: an overlay that grows a feature this does not
implement fails the test instead of being checked wrongly.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

Resource = dict[str, Any]

SUPPORTED = {"apiVersion", "kind", "namespace", "resources", "images", "patches"}
CLUSTER_SCOPED = {"Namespace", "CustomResourceDefinition", "ClusterRole", "ClusterRoleBinding"}
# Strategic-merge keys of the lists deploy/k8s patches (Kubernetes' patchMergeKey); other lists,
# and every list of a custom resource, are replaced whole, as kustomize does.
MERGE_KEYS = {
    "containers": "name",
    "initContainers": "name",
    "env": "name",
    "volumes": "name",
    "volumeMounts": "mountPath",
    "ports": "containerPort",
    "imagePullSecrets": "name",
}
BUILT_IN_GROUPS = ("v1", "apps/", "batch/", "policy/", "autoscaling/", "networking.k8s.io/")


class Unsupported(ValueError):
    """The kustomization uses something this helper does not implement."""


def load_documents(path: Path) -> list[Resource]:
    """Every YAML document of ``path`` that is not empty."""
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def build(directory: Path) -> list[Resource]:
    """The objects ``kustomize build directory`` would print (order aside)."""
    spec = load_documents(directory / "kustomization.yaml")[0]
    unknown = set(spec) - SUPPORTED
    if unknown:
        raise Unsupported(f"{directory}: kustomization fields not implemented here: {sorted(unknown)}")
    resources: list[Resource] = []
    for entry in spec.get("resources", []):
        target = directory / entry
        resources.extend(build(target) if target.is_dir() else load_documents(target))
    for patch in spec.get("patches", []):
        _apply_patch(resources, directory, patch)
    for image in spec.get("images", []):
        _set_image(resources, image)
    if namespace := spec.get("namespace"):
        for resource in resources:
            if resource["kind"] not in CLUSTER_SCOPED:
                resource["metadata"]["namespace"] = namespace
    return resources


def find(resources: list[Resource], kind: str, name: str) -> Resource:
    """The one object of ``kind`` named ``name``."""
    found = [r for r in resources if r["kind"] == kind and r["metadata"]["name"] == name]
    if len(found) != 1:
        raise LookupError(f"{len(found)} objects {kind}/{name}")
    return found[0]


def _apply_patch(resources: list[Resource], directory: Path, patch: dict[str, Any]) -> None:
    if set(patch) == {"path"}:
        for doc in load_documents(directory / patch["path"]):
            target = find(resources, doc["kind"], doc["metadata"]["name"])
            built_in = target["apiVersion"].startswith(BUILT_IN_GROUPS)
            target.update(merge(target, doc, strategic=built_in))
    elif set(patch) == {"target", "patch"} and set(patch["target"]) <= {"kind", "name"}:
        target = find(resources, patch["target"]["kind"], patch["target"]["name"])
        for op in yaml.safe_load(patch["patch"]):
            _json_patch(target, op)
    else:
        raise Unsupported(f"patch form not implemented here: {sorted(patch)}")


def merge(base: Any, patch: Any, *, strategic: bool, key: str = "") -> Any:
    """``patch`` merged into a copy of ``base``: maps recursively, keyed lists by their merge key."""
    if isinstance(patch, dict) and "$patch" in patch:
        raise Unsupported("$patch directives are not implemented here")
    if isinstance(base, dict) and isinstance(patch, dict):
        merged = copy.deepcopy(base)
        for k, v in patch.items():
            if v is None:
                merged.pop(k, None)
            else:
                merged[k] = merge(base[k], v, strategic=strategic, key=k) if k in base else copy.deepcopy(v)
        return merged
    merge_key = MERGE_KEYS.get(key)
    if strategic and merge_key and isinstance(base, list) and isinstance(patch, list):
        merged_list = copy.deepcopy(base)
        for item in patch:
            same = [i for i, old in enumerate(merged_list) if old.get(merge_key) == item.get(merge_key)]
            if same:
                merged_list[same[0]] = merge(merged_list[same[0]], item, strategic=True)
            else:
                merged_list.append(copy.deepcopy(item))
        return merged_list
    return copy.deepcopy(patch)


def _json_patch(target: Resource, op: dict[str, Any]) -> None:
    if op["op"] not in {"add", "replace", "remove"}:
        raise Unsupported(f"JSON patch op {op['op']!r} not implemented here")
    *parents, last = [p.replace("~1", "/").replace("~0", "~") for p in op["path"].lstrip("/").split("/")]
    node: Any = target
    for part in parents:
        node = node[int(part)] if isinstance(node, list) else node[part]
    if isinstance(node, list):
        index = len(node) if last == "-" else int(last)
        if op["op"] == "remove":
            del node[index]
        elif op["op"] == "add":
            node.insert(index, copy.deepcopy(op["value"]))
        else:
            node[index] = copy.deepcopy(op["value"])
        return
    if op["op"] == "remove":
        del node[last]
    elif op["op"] == "replace" and last not in node:
        raise KeyError(f"JSON patch replace: {op['path']} does not exist")
    else:
        node[last] = copy.deepcopy(op["value"])


def _set_image(resources: list[Resource], image: dict[str, str]) -> None:
    if set(image) - {"name", "newName", "newTag"}:
        raise Unsupported(f"image fields not implemented here: {sorted(image)}")
    for resource in resources:
        for container in pod_containers(resource):
            name, _, tag = container["image"].partition(":")
            if name == image["name"]:
                new_tag = image.get("newTag", tag)
                container["image"] = image.get("newName", name) + (f":{new_tag}" if new_tag else "")


def pod_spec(resource: Resource) -> dict[str, Any] | None:
    """The pod spec of a Deployment or Job, else None."""
    if resource["kind"] in {"Deployment", "Job", "StatefulSet", "DaemonSet"}:
        spec: dict[str, Any] = resource["spec"]["template"]["spec"]
        return spec
    return None


def pod_containers(resource: Resource) -> list[dict[str, Any]]:
    """Every container and init container of a workload (none for other kinds)."""
    spec = pod_spec(resource)
    if spec is None:
        return []
    return [*spec.get("initContainers", []), *spec.get("containers", [])]
