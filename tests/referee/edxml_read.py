#!/usr/bin/env python3
"""An independent reader of edXML (QCVN 102:2016) documents, used as a referee by
tests/edxml_field.rs: it reads a file with lxml (libxml2) and prints, as JSON, what the
receiving systems' SDKs read from it, so that `lienthong doc show --json` can be compared
field by field.

It follows the way the SDKs' own parsers read a document (the .NET SDK's EdXml102.FromFile and
the status readers built on XmlDocument.GetElementsByTagName): elements are found by namespace
and local name anywhere under the envelope's header, whatever their order; the first one wins.
It shares no code with lienthong.

usage: edxml_read.py FILE...   (one JSON object per line)
"""
import json
import sys

from lxml import etree

NS = "http://www.mic.gov.vn/TBT/QCVN_102_2016"


def q(local):
    return "{%s}%s" % (NS, local)


def first(node, *path):
    """The first element reached by following `path` (local names in the edXML namespace)."""
    for local in path:
        if node is None:
            return None
        node = node.find(q(local))
    return node


def text(node, *path):
    e = first(node, *path)
    if e is None:
        return None
    return "".join(e.itertext())


def organ(node):
    if node is None:
        return None
    return {"organ_id": text(node, "OrganId"), "name": text(node, "OrganName")}


def envelope_of(root):
    if root.tag == q("edXMLEnvelope"):
        return root
    if root.tag == q("edXML"):
        return root.find(q("edXMLEnvelope"))
    return None


def read(path):
    parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)
    tree = etree.parse(path, parser)
    env = envelope_of(tree.getroot())
    if env is None:
        return {"file": path, "error": "no edXMLEnvelope"}
    header = first(env, "edXMLHeader")
    mh = first(header, "MessageHeader")
    # The platform's status message is a MessageHeader with a StatusCode (the SDK's Status
    # class is read from the same element).
    status = mh if first(mh, "StatusCode") is not None else None
    if status is not None:
        rf = first(status, "ResponseFor")
        return {
            "file": path,
            "kind": "status",
            "from": organ(first(status, "From")),
            "status_code": text(status, "StatusCode"),
            "response_for": {
                "organ_id": text(rf, "OrganId"),
                "code": text(rf, "Code"),
                "document_id": text(rf, "DocumentId"),
            },
        }
    return {
        "file": path,
        "kind": "document",
        "from": organ(first(mh, "From")),
        "to": [organ(t) for t in mh.findall(q("To"))],
        "code_number": text(mh, "Code", "CodeNumber"),
        "code_notation": text(mh, "Code", "CodeNotation"),
        "subject": text(mh, "Subject"),
    }


if __name__ == "__main__":
    for p in sys.argv[1:]:
        print(json.dumps(read(p), ensure_ascii=False))
