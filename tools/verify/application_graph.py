"""The application as the walkthrough drew it: its services, its database and the calls between them, as a
Mermaid flowchart generated from the workload files (README shows it; a test keeps the two the same)."""

from __future__ import annotations

from stacks.application.spec import Application

BEGIN = "<!-- application graph: python -m tools application-graph -->"
END = "<!-- end of application graph -->"


def mermaid(application: Application) -> str:
    """A flowchart: the outside world, each workload (public or internal), each provisioned resource, each call."""
    lines = ["```mermaid", "flowchart LR", '    users(["users"])']
    for workload in application.workloads:
        if workload.ports:
            exposure = "public" if workload.public else "internal, ClusterIP"
            ports = ", ".join(f"{p.port}→{p.target_port}" for p in workload.ports)
            lines.append(f'    {_node(workload.name)}["{workload.name}<br/>{exposure}<br/>{ports}"]')
        else:
            lines.append(f'    {_node(workload.name)}["{workload.name}<br/>worker, no Service"]')
        for resource in workload.resources:
            if resource.type == "postgres":
                node = _node(f"{workload.name}-{resource.name}")
                lines.append(f'    {node}[("{workload.name}-{resource.name}<br/>postgres")]')
    for workload in application.workloads:
        if workload.public:
            lines.append(f"    users -->|route| {_node(workload.name)}")
    for edge in application.edges():
        lines.append(f"    {_node(edge.client)} -->|{edge.port}| {_node(edge.server.replace('/', '-'))}")
    lines.append("```")
    return "\n".join(lines)


def _node(name: str) -> str:
    """A Mermaid node id: '-' would read as part of an arrow."""
    return name.replace("-", "_")


def block(application: Application) -> str:
    """The graph between the markers README keeps it in."""
    return f"{BEGIN}\n{mermaid(application)}\n{END}"
