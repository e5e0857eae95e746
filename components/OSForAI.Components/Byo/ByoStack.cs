using System.Text.RegularExpressions;
using OSForAI.Components.Kubernetes;
using OSForAI.Components.Stacks;
using OSForAI.Components.Synthesis;

namespace OSForAI.Components.Byo;

/// <summary>
/// The config keys of the bring-your-own-cluster stack (the root Pulumi.yaml, project <c>osforai</c>) and their
/// validation, in the same style as <see cref="StackConfig"/>: errors name <c>&lt;project&gt;:&lt;key&gt;</c>.
/// </summary>
public static partial class ByoStackConfig
{
    public const string Kubeconfig = "kubeconfig";
    public const string RuntimeImage = StackConfig.RuntimeImage;
    public const string Namespace = StackConfig.Namespace;
    public const string GatewayMinReplicas = StackConfig.GatewayMinReplicas;
    public const string GatewayMaxReplicas = StackConfig.GatewayMaxReplicas;
    public const string DataStore = "dataStore";
    public const string DataStoreSettings = "dataStoreSettings";
    public const string LoadBalancerAddressKey = "loadBalancerAddress";
    public const string DevicePlugin = "devicePlugin";
    public const string State = "state";

    /// <summary>The schemes whose connectors can hold data:// (docs/data.md).</summary>
    public static IReadOnlyList<string> Schemes { get; } = ["s3", "azure", "gs", "file", "hdfs", "dropbox"];

    public static IReadOnlyList<ConfigSetting> Settings { get; } =
    [
        new(Kubeconfig, "string", null, "kubeconfig of the cluster; set it with 'pulumi config set --secret kubeconfig \"$(cat ~/.kube/config)\"'"),
        new(RuntimeImage, "string", null, "OSForAI runtime image"),
        new(Namespace, "string", "osforai", "Kubernetes namespace of the runtime"),
        // One replica by default: without a state database (state) the runtime keeps its state in SQLite inside the pod, which
        // replicas cannot share. More replicas need state set (checked below).
        new(GatewayMinReplicas, "integer", 1, "fewest gateway replicas"),
        new(GatewayMaxReplicas, "integer", 1, "most gateway replicas (more than 1 needs state)"),
        new(State, "string", "", "PostgreSQL connection URI postgres://USER:PASSWORD@HOST:PORT/DB?sslmode=require holding the runtime's state; empty: SQLite in the pod (one replica, lost when the pod goes)"),
        new(DataStore, "string", null, "where data:// lives, a labelled store URI such as s3+platform://bucket/osforai"),
        new(DataStoreSettings, "object", Expr.Object(), "connector settings of the data store, e.g. {AccessKeyId, SecretAccessKey, Region}"),
        new(LoadBalancerAddressKey, "string", "hostname", "which address the cluster's load balancers report: hostname or ip"),
        new(DevicePlugin, "boolean", true, "install the NVIDIA device plugin (false when the cluster already has one)"),
    ];

    /// <summary>Keys declared <c>secret: true</c>.</summary>
    public static IReadOnlySet<string> Secrets { get; } = new HashSet<string> { Kubeconfig, DataStoreSettings, State };

    public static IReadOnlyList<ConfigError> Validate(StackFile file)
    {
        var errors = new List<ConfigError>();
        var values = new StackConfig.Values(file, errors, Settings.Where(s => s.Key != DataStoreSettings).ToList());

        if (values.String(Kubeconfig) is { } kubeconfig && kubeconfig.Trim().Length == 0)
            errors.Add(new(Kubeconfig, "is empty"));
        if (values.String(RuntimeImage) is { } image && (image.Length == 0 || image.Any(char.IsWhiteSpace)))
            errors.Add(new(RuntimeImage, $"'{image}' is not a container image reference"));
        if (values.String(Namespace) is { } ns && !StackConfig.DnsLabel().IsMatch(ns))
            errors.Add(new(Namespace, $"'{ns}' is not a Kubernetes namespace name (lower-case letters, digits and '-', at most 63)"));
        StackConfig.Range(values, errors, GatewayMinReplicas, GatewayMaxReplicas, minFloor: 1);
        ValidateState(file, values, errors);
        if (values.String(DataStore) is { } uri && CheckDataStore(uri) is { } problem)
            errors.Add(new(DataStore, problem));
        if (values.String(LoadBalancerAddressKey) is { } address && address is not ("hostname" or "ip"))
            errors.Add(new(LoadBalancerAddressKey, $"must be 'hostname' or 'ip', got '{address}'"));
        values.Boolean(DevicePlugin);
        if (file.Get(DataStoreSettings) is StackValue.Plain)
            errors.Add(new(DataStoreSettings, "must be an object of connector settings (set one with 'pulumi config set --secret --path dataStoreSettings.<Setting> <value>')"));
        return errors;
    }

    public static void ValidateOrThrow(StackFile file) => StackConfig.Throw(file, Validate(file));

    /// <summary>
    /// <c>state</c> holds a password, so it must be a Pulumi secret (its value cannot be checked then); without it the state is SQLite
    /// inside the one pod, so more than one replica is refused: each would keep a state of its own.
    /// </summary>
    private static void ValidateState(StackFile file, StackConfig.Values values, List<ConfigError> errors)
    {
        switch (file.Get(State))
        {
            case StackValue.Secret:
                return;
            case StackValue.Plain { Text: var text } when text.Length > 0:
                errors.Add(new(State, "holds a database password: set it as a secret with 'pulumi config set --secret state postgres://USER:PASSWORD@HOST:5432/DB?sslmode=require'"));
                return;
            case StackValue.Structured or StackValue.List:
                errors.Add(new(State, "must be a single string, a PostgreSQL connection URI"));
                return;
        }
        if (values.Integer(GatewayMaxReplicas) is > 1 and var max)
            errors.Add(new(GatewayMaxReplicas, $"{max} replicas need a shared state database: without state each replica would keep its own SQLite state; set state (a PostgreSQL connection URI, as a secret) or keep gatewayMaxReplicas at 1"));
    }

    /// <summary>Whether the stack installs the device plugin: a synth-time choice (Pulumi YAML has no conditional resources).</summary>
    public static bool DevicePluginOf(StackFile? file) =>
        file?.Get(DevicePlugin) is not StackValue.Plain { Text: var text } || !bool.TryParse(text, out var b) || b;

    /// <summary>Which load-balancer field gatewayUrl reads: also a synth-time choice; hostname without a stack.</summary>
    public static LoadBalancerAddress LoadBalancerAddressOf(StackFile? file) =>
        file?.Get(LoadBalancerAddressKey) is StackValue.Plain { Text: "ip" } ? LoadBalancerAddress.Ip : LoadBalancerAddress.Hostname;

    /// <summary>Null when <paramref name="uri"/> is a labelled store URI the runtime can keep data:// in; else the problem.</summary>
    public static string? CheckDataStore(string uri)
    {
        var m = DataStoreFormat().Match(uri);
        if (!m.Success)
            return $"'{uri}' is not a store URI of the form scheme+label://container/path (e.g. s3+platform://bucket/osforai)";
        if (!Schemes.Contains(m.Groups["scheme"].Value))
            return $"'{uri}': the scheme '{m.Groups["scheme"].Value}' cannot hold data://; choose one of {string.Join(", ", Schemes)}";
        if (!m.Groups["label"].Success)
            return $"'{uri}' has no connector label; write it as {m.Groups["scheme"].Value}+<label>://... (the label names the connector settings)";
        return null;
    }

    [GeneratedRegex(@"^(?<scheme>[a-z][a-z0-9]*)(\+(?<label>[A-Za-z0-9][A-Za-z0-9_-]*))?://(?<container>[^/\s]+)(/[^\s]*)?$")]
    private static partial Regex DataStoreFormat();
}

/// <summary>
/// The OSForAI runtime on an existing cluster, reached through a kubeconfig (the bring-your-own-cluster stack). Nothing
/// is created outside the cluster: no network, node pools, bucket or cloud credentials.
/// <para>What is supported:</para>
/// <list type="bullet">
/// <item>The cluster comes from the <c>kubeconfig</c> config value (secret). The kubeconfig must work where
/// <c>pulumi up</c> runs: exec plugins it names (aws, gke-gcloud-auth-plugin, kubelogin) must be installed there.</item>
/// <item>data:// lives in an existing store the operator names with <c>dataStore</c> (<c>scheme+label://container/path</c>);
/// the runtime gets <c>OSForAI__DataStore=&lt;dataStore&gt;</c>. The connector settings, <c>dataStoreSettings</c>
/// (an object of setting → string, e.g. <c>AccessKeyId</c>, <c>SecretAccessKey</c>, <c>Region</c>), go into the
/// data Secret and reach the container as environment variables <c>OSForAI__Data__&lt;scheme&gt;__&lt;label&gt;__&lt;Setting&gt;</c>:
/// the prefix is computed from the URI when the stack is deployed (fn::split), so the program does not depend on
/// the stack's values. Setting names are used as given; nested settings are written with <c>__</c> (<c>Roots__data</c>
/// for file://). Secrets therefore arrive as environment variables, not as mounted <c>&lt;Setting&gt;File</c>s as on
/// the clouds.</item>
/// <item>Nodes are not expected to carry the cloud stacks' pool labels: the gateway has no node selector, and the
/// NVIDIA device plugin (installed unless <c>devicePlugin</c> is false, e.g. when the NVIDIA GPU operator or the
/// platform already runs one) lands where its chart's defaults place it, tolerating the <c>nvidia.com/gpu</c> taint.
/// </item>
/// <item>The gateway is a LoadBalancer Service; <c>loadBalancerAddress</c> says whether the cluster reports a hostname
/// or an IP for it. <c>devicePlugin</c> and <c>loadBalancerAddress</c> are read from the stack's settings file when
/// the program is synthesized (Pulumi YAML cannot choose resources or fields from config); without a stack the
/// defaults apply. Clusters without a load-balancer controller leave <c>gatewayUrl</c> unresolved.</item>
/// <item>State: with <c>state</c> (a secret PostgreSQL connection URI, e.g. a managed database the operator runs) the runtime keeps
/// its catalog, keys and jobs there and several replicas may run (<c>gatewayMaxReplicas</c>). Without it the runtime uses SQLite in
/// the pod's home folder: one replica only (validation refuses more), and the state is lost whenever the pod is replaced.</item>
/// <item>The HorizontalPodAutoscaler needs the cluster's metrics API (metrics-server); it is not installed here.</item>
/// </list>
/// </summary>
public sealed class ByoStack : ComponentResource
{
    public ByoStack(string name, ByoStackArgs args) : base("osforai:byo:ByoStack", name)
    {
        KubernetesProvider = new Resource("pulumi:providers:kubernetes", "k8s", Expr.Object(("kubeconfig", args.Kubeconfig)), Child());
        Runtime = new RuntimeDeployment("runtime", new RuntimeDeploymentArgs
        {
            Provider = KubernetesProvider,
            Namespace = args.Namespace,
            Image = args.RuntimeImage,
            MinReplicas = args.GatewayMinReplicas,
            MaxReplicas = args.GatewayMaxReplicas,
            State = args.State,
            DevicePlugin = args.DevicePlugin ? DevicePluginMode.Helm : DevicePluginMode.Managed,
            NodePoolLabels = false,
            GatewayAddress = args.GatewayAddress,
            // Scheme and label are unknown until deployed; only DeployTime settings are used with them.
            DataStore = new DataStoreBinding("", "", args.DataStore)
            {
                DeployTime = new DeployTimeSettings(args.SettingsEnvPrefix, args.DataStoreSettings),
            },
        }, this);
        GatewayUrl = Runtime.GatewayUrl;
    }

    public Resource KubernetesProvider { get; }
    public RuntimeDeployment Runtime { get; }
    public Expr GatewayUrl { get; }
}

public sealed record ByoStackArgs
{
    public required Expr Kubeconfig { get; init; }
    public required Expr RuntimeImage { get; init; }
    public required Expr Namespace { get; init; }
    public required Expr GatewayMinReplicas { get; init; }
    public required Expr GatewayMaxReplicas { get; init; }
    public required Expr DataStore { get; init; }
    public required Expr DataStoreSettings { get; init; }
    /// <summary>The state connection URI (a secret config value); empty: SQLite in the pod.</summary>
    public required Expr State { get; init; }
    /// <summary><c>OSForAI__Data__&lt;scheme&gt;__&lt;label&gt;__</c>, built from <see cref="DataStore"/> when deployed.</summary>
    public required Expr SettingsEnvPrefix { get; init; }
    public LoadBalancerAddress GatewayAddress { get; init; } = LoadBalancerAddress.Hostname;
    public bool DevicePlugin { get; init; } = true;
}

/// <summary>The whole bring-your-own-cluster program: config keys, the runtime, and the parity outputs.</summary>
public static class ByoStackProgram
{
    public const string ProjectName = "osforai";

    /// <param name="devicePlugin">From the stack's <c>devicePlugin</c> (<see cref="ByoStackConfig.DevicePluginOf"/>); true without a stack.</param>
    /// <param name="gatewayAddress">From the stack's <c>loadBalancerAddress</c> (<see cref="ByoStackConfig.LoadBalancerAddressOf"/>).</param>
    public static PulumiProgram Build(string projectName = ProjectName, bool devicePlugin = true, LoadBalancerAddress gatewayAddress = LoadBalancerAddress.Hostname)
    {
        var program = new PulumiProgram(projectName, "OSForAI runtime on an existing Kubernetes cluster (bring your own cluster), synthesized by OSForAI.Stacks");
        var keys = StackConfig.DeclareAll(program, ByoStackConfig.Settings, new HashSet<string>(ByoStackConfig.Secrets));
        var dataStore = keys[ByoStackConfig.DataStore];

        // "s3+platform://bucket/osforai" → "s3+platform" → scheme "s3", label "platform" (validated at synth time).
        Expr Split(string separator, Expr value) => new Fn("fn::split", Expr.List(separator, value));
        var storeName = Expr.Select(0, Split("://", dataStore));
        var scheme = program.AddVariable("dataStoreScheme", Expr.Select(0, Split("+", storeName)));
        var label = program.AddVariable("dataStoreLabel", Expr.Select(1, Split("+", storeName)));

        var stack = new ByoStack("osforai", new ByoStackArgs
        {
            Kubeconfig = keys[ByoStackConfig.Kubeconfig],
            RuntimeImage = keys[ByoStackConfig.RuntimeImage],
            Namespace = keys[ByoStackConfig.Namespace],
            GatewayMinReplicas = keys[ByoStackConfig.GatewayMinReplicas],
            GatewayMaxReplicas = keys[ByoStackConfig.GatewayMaxReplicas],
            DataStore = dataStore,
            DataStoreSettings = keys[ByoStackConfig.DataStoreSettings],
            State = keys[ByoStackConfig.State],
            SettingsEnvPrefix = Expr.Concat("OSForAI__Data__", scheme.Output(), "__", label.Output(), "__"),
            DevicePlugin = devicePlugin,
            GatewayAddress = gatewayAddress,
        });
        program.Add(stack);
        program.AddOutput("gatewayUrl", stack.GatewayUrl);
        program.AddOutput("bucketUri", dataStore);
        program.AddOutput("kubeconfig", Expr.Secret(keys[ByoStackConfig.Kubeconfig]));
        program.AddOutput("adminKey", stack.Runtime.AdminKey);
        return program;
    }
}
