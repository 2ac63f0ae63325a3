"""Placeholder; replaced below."""
def write_document(target, doc, full):
    target.parent.mkdir(parents=True, exist_ok=True)
    import json
    target.write_text("```\n" + json.dumps(doc, indent=2, default=str) + "\n```\n")
