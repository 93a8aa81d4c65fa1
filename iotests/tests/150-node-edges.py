# Prints the node-to-node edges of an x-debug-query-block-graph reply (sorted, with permissions).
# Backends and jobs are left out: qsd shows a job as a block-job vertex, blockd as anonymous
# backends, so only the edges between nodes compare across daemons.
import json
import sys

graph = json.load(open(sys.argv[1]))["return"]
nodes = {n["id"]: n for n in graph["nodes"]}
for e in sorted(graph["edges"], key=lambda e: (nodes[e["parent"]]["name"], e["name"])):
    parent, child = nodes[e["parent"]], nodes[e["child"]]
    if parent["type"] == "block-driver":
        print(parent["name"], "-" + e["name"] + "->", child["name"],
              "perm=" + ",".join(e["perm"]), "shared=" + ",".join(e["shared-perm"]))
