namespace OSForAI.Components.Validation;

/// <summary>
/// Allowed values the mini-schema cannot carry: the SDK type declarations type these properties as plain strings,
/// but the provider (or the Kubernetes API) rejects anything else at preview or apply. Each entry narrows one
/// property of one object type to an enum when the package is read. Only values the provider validates belong here.
/// The taint effects differ by cloud (AWS and GCP: NO_SCHEDULE; Kubernetes: NoSchedule), which is exactly the
/// mistake a parity stack makes when it copies a taint from one cloud to another.
/// </summary>
internal static class SchemaSupplements
{
    private static readonly object[] CloudTaintEffects = ["NO_SCHEDULE", "NO_EXECUTE", "PREFER_NO_SCHEDULE"];
    private static readonly object[] KubernetesTaintEffects = ["NoSchedule", "PreferNoSchedule", "NoExecute"];

    private static readonly Dictionary<(string Package, string Type), (string Property, object[] Values)[]> Enums = new()
    {
        // aws_eks_node_group taint.effect is validated against the EKS API's TaintEffect values.
        [("aws", "inputs.eks.NodeGroupTaint")] = [("effect", CloudTaintEffects)],
        [("eks", "aws:inputs.eks.NodeGroupTaint")] = [("effect", CloudTaintEffects)],
        // google_container_node_pool / cluster node_config.taint.effect.
        [("gcp", "inputs.container.NodePoolNodeConfigTaint")] = [("effect", CloudTaintEffects)],
        [("gcp", "inputs.container.ClusterNodePoolNodeConfigTaint")] = [("effect", CloudTaintEffects)],
        [("gcp", "inputs.container.ClusterNodeConfigTaint")] = [("effect", CloudTaintEffects)],
        // core/v1 Taint.effect is validated by the API server.
        [("kubernetes", "inputs.core.v1.Taint")] = [("effect", KubernetesTaintEffects)],
    };

    public static IEnumerable<(string Property, IReadOnlyList<object> Values)> EnumsFor(string package, string type) =>
        Enums.TryGetValue((package, type), out var entries) ? entries.Select(e => (e.Property, (IReadOnlyList<object>)e.Values)) : [];
}
