namespace OSForAI.DevCluster;

/// <summary>How a container image runs on the dev cluster: a local command line (the "entrypoint"),
/// its working folder and extra environment. The pod's <c>args</c> are appended to <see cref="Command"/>.</summary>
public sealed record DevImage(IReadOnlyList<string> Command, string? WorkingDirectory = null, IReadOnlyDictionary<string, string>? Environment = null);

/// <summary>Settings of an in-process <see cref="DevCluster"/>.</summary>
public sealed class DevClusterOptions
{
    /// <summary>TCP port on 127.0.0.1 (0 picks a free one).</summary>
    public int Port { get; set; }

    /// <summary>GPU nodes besides the CPU node: label <c>osforai.dev/pool=gpu</c>, taint
    /// <c>nvidia.com/gpu=true:NoSchedule</c>, allocatable <c>nvidia.com/gpu: 1</c> each.</summary>
    public int GpuNodes { get; set; }

    /// <summary>Image-name prefix → local command. The longest matching prefix wins; an image with
    /// no match stays in ErrImagePull / ImagePullBackOff, like a kubelet that cannot pull it.</summary>
    public Dictionary<string, DevImage> Images { get; } = new(StringComparer.Ordinal);

    /// <summary>Cap on a pod's termination grace period (SIGTERM → SIGKILL); Kubernetes' default is 30 s.</summary>
    public TimeSpan MaxGracePeriod { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>First CrashLoopBackOff delay; doubles per restart up to <see cref="MaxRestartBackoff"/>.</summary>
    public TimeSpan InitialRestartBackoff { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>Longest CrashLoopBackOff delay (Kubernetes: 5 min; dev: 10 s).</summary>
    public TimeSpan MaxRestartBackoff { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Environment variables copied from this process into every container (a container sees
    /// nothing else of the host's environment).</summary>
    public List<string> PassThroughEnvironment { get; } = ["PATH", "HOME", "LANG", "TMPDIR", "DOTNET_ROOT"];
}
