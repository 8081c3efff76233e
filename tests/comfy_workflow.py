"""Turn a UI-format workflow into an API-format prompt, as ComfyUI's frontend does.

Widget values are matched to input names using the node definitions (ComfyUI's
/object_info, or our classes' INPUT_TYPES), honouring the extra values the frontend
saves after seed widgets (control_after_generate) and upload widgets.
"""

from __future__ import annotations

WIDGET_TYPES = {"INT", "FLOAT", "STRING", "BOOLEAN", "COMBO"}
FRONTEND_ONLY = {"Note", "MarkdownNote", "Reroute", "PrimitiveNode"}


def extra_widget_values(name: str, kind, options: dict) -> int:
    """How many values the frontend stores after this widget's own value."""
    if options.get("audio_upload"):
        return 2  # the audio player and the upload button
    if options.get("image_upload"):
        return 1
    if kind == "INT" and (options.get("control_after_generate") or name in ("seed", "noise_seed")):
        return 1
    return 0


def to_api_prompt(workflow: dict, definitions: dict) -> dict:
    """`definitions`: node type -> {"required": {...}, "optional": {...}} as in INPUT_TYPES/object_info."""
    links = {link[0]: link for link in workflow["links"]}
    prompt = {}
    for node in workflow["nodes"]:
        if node["type"] in FRONTEND_ONLY or node.get("mode", 0) in (2, 4):
            continue
        spec = definitions[node["type"]]
        declared = {**spec.get("required", {}), **spec.get("optional", {})}
        linked = {i["name"]: links[i["link"]] for i in node.get("inputs", []) if i.get("link") is not None}
        converted = {i["name"] for i in node.get("inputs", []) if i.get("widget")}
        values = list(node.get("widgets_values", []))
        inputs = {}
        for name, declaration in declared.items():
            kind = declaration[0]
            options = declaration[1] if len(declaration) > 1 else {}
            if name in linked:
                link = linked[name]
                inputs[name] = [str(link[1]), link[2]]
                if name in converted:  # a widget turned into a socket keeps its (unused) value
                    values.pop(0)
                    del values[:extra_widget_values(name, kind, options)]
            elif isinstance(kind, list) or kind in WIDGET_TYPES:
                inputs[name] = values.pop(0)
                del values[:extra_widget_values(name, kind, options)]
        if values:
            raise ValueError(f"node {node['id']} ({node['type']}): {len(values)} unused widget values {values}")
        prompt[str(node["id"])] = {"class_type": node["type"], "inputs": inputs}
    return prompt
