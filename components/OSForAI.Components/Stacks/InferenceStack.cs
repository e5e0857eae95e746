using OSForAI.Components.Synthesis;

namespace OSForAI.Components.Stacks;

/// <summary>
/// The cloud-agnostic inference stack: what every cloud's implementation (AWS, Azure, GCP) exposes, built from the
/// same <see cref="InferenceStackArgs"/>. The parity contract's outputs are defined here once, so no cloud can drift.
/// </summary>
public abstract class InferenceStack(string type, string name) : ComponentResource(type, name)
{
    /// <summary>The program variables the stack's resources refer to (provider function results).</summary>
    public abstract IReadOnlyList<Variable> Variables { get; }
    public abstract Resource Cluster { get; }
    /// <summary>The cluster's kubeconfig (a secret output of the program).</summary>
    public abstract Variable Kubeconfig { get; }
    /// <summary>The public gateway endpoint of the runtime.</summary>
    public abstract Expr GatewayUrl { get; }

    /// <summary>The runtime (gateway Deployment, its Secrets and RBAC) on the cluster.</summary>
    public abstract Kubernetes.RuntimeDeployment Runtime { get; }
    /// <summary>The bucket (or container) data:// lives in, as a URI of its own scheme.</summary>
    public abstract Expr BucketUri { get; }
    /// <summary>The registry repository the stack provisions, where CI pushes the images (the <c>registry</c> output); null: none.</summary>
    public virtual Expr? RegistryPath => null;

    /// <summary>
    /// A whole program: the shared config keys, the stack <paramref name="create"/> builds from them, and the parity
    /// outputs <c>gatewayUrl</c>, <c>bucketUri</c>, <c>kubeconfig</c> (secret), <c>clusterName</c> and <c>adminKey</c> (secret).
    /// </summary>
    /// <param name="stackFile">The stack's settings file for the synth-time choices (<see cref="StackConfig.Declare"/>); null takes the defaults.</param>
    public static PulumiProgram Program(string projectName, string description, CloudOffering cloud, Func<InferenceStackArgs, InferenceStack> create, StackFile? stackFile = null)
    {
        var program = new PulumiProgram(projectName, description);
        var stack = create(StackConfig.Declare(program, cloud, stackFile));
        foreach (var v in stack.Variables) program.AddVariable(v);
        program.Add(stack);
        program.AddOutput("gatewayUrl", stack.GatewayUrl);
        program.AddOutput("bucketUri", stack.BucketUri);
        program.AddOutput("kubeconfig", Expr.Secret(stack.Kubeconfig.Output()));
        program.AddOutput("clusterName", stack.Cluster.Output("name"));
        program.AddOutput("adminKey", stack.Runtime.AdminKey);
        if (stack.RegistryPath is { } registry) program.AddOutput(StackConfig.Registry, registry);
        return program;
    }
}
