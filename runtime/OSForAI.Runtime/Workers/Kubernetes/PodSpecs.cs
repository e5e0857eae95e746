using System.Globalization;
using System.Text.RegularExpressions;
using k8s.Models;
using OSForAI.Runtime.Catalog;

namespace OSForAI.Runtime.Workers.Kubernetes;

/// <summary>What one worker pod is: its runtime, pool, size, identity and the gateway it dials.</summary>
/// <remarks><paramref name="OwnerPod"/> is the gateway's own pod (name, uid) when it runs in one: the worker pod's owner.</remarks>
public sealed record PodRequest(string WorkerId, string Runtime, string Pool, string Image, string Secret, string GatewayAddress,
    string ServerId, double Cpu, int MemoryMb, int Gpus, PodPoolOptions PoolOptions, IReadOnlyDictionary<string, string>? Environment = null,
    (string Name, string Uid)? OwnerPod = null);

/// <summary>
/// Worker pods as Kubernetes objects (pure: no API calls), and what a pod's status says about its start. A worker pod runs as
/// a non-root user with a read-only root file system, no capabilities, no privilege escalation, seccomp RuntimeDefault and no
/// service-account token; it requests the CPU, memory and GPUs of what it will run; it tolerates its pool's taints and selects
/// its pool's nodes; it carries labels that name its server, runtime, pool and worker, so a restarted gateway finds its own.
/// </summary>
public static partial class PodSpecs
{
    public const string ManagedByLabel = "app.kubernetes.io/managed-by";
    public const string ManagedBy = "osforai";
    public const string ServerLabel = "osforai.dev/server";
    public const string RuntimeLabel = "osforai.dev/runtime";
    public const string PoolLabel = "osforai.dev/pool";
    public const string WorkerLabel = "osforai.dev/worker";
    public const string GpuResource = "nvidia.com/gpu";
    public const int WorkerUid = 10001;

    /// <summary>The label selector of every worker pod of one server.</summary>
    public static string SelectorFor(string serverId) => $"{ManagedByLabel}={ManagedBy},{ServerLabel}={serverId}";

    public static V1Pod WorkerPod(PodRequest r)
    {
        var requests = new Dictionary<string, ResourceQuantity>
        {
            ["cpu"] = new(r.Cpu.ToString("0.###", CultureInfo.InvariantCulture)),
            ["memory"] = new($"{r.MemoryMb}Mi"),
        };
        var limits = new Dictionary<string, ResourceQuantity> { ["memory"] = new($"{r.MemoryMb}Mi") };
        if (r.Gpus > 0)
        {
            requests[GpuResource] = new(r.Gpus.ToString(CultureInfo.InvariantCulture));
            limits[GpuResource] = new(r.Gpus.ToString(CultureInfo.InvariantCulture));
        }
        return new V1Pod
        {
            ApiVersion = "v1",
            Kind = "Pod",
            Metadata = new V1ObjectMeta
            {
                Name = PodName(r.ServerId, r.WorkerId),
                Labels = new Dictionary<string, string>
                {
                    [ManagedByLabel] = ManagedBy,
                    [ServerLabel] = r.ServerId,
                    [RuntimeLabel] = r.Runtime,
                    [PoolLabel] = r.Pool,
                    [WorkerLabel] = r.WorkerId,
                },
                // Deleted with the gateway pod that made it (the only one it can dial); not its controller.
                OwnerReferences = r.OwnerPod is { } owner
                    ? [new V1OwnerReference { ApiVersion = "v1", Kind = "Pod", Name = owner.Name, Uid = owner.Uid, Controller = false, BlockOwnerDeletion = false }]
                    : null,
            },
            Spec = new V1PodSpec
            {
                // A worker whose process ends (a crash, or its gateway went away) starts again as a generic worker and dials back.
                RestartPolicy = "Always",
                AutomountServiceAccountToken = false,
                EnableServiceLinks = false,
                TerminationGracePeriodSeconds = 5,
                NodeSelector = r.PoolOptions.NodeSelector.Count == 0 ? null : new Dictionary<string, string>(r.PoolOptions.NodeSelector),
                Tolerations = r.PoolOptions.Tolerations.Count == 0 ? null : r.PoolOptions.Tolerations.Select(t => ParseToleration(t)!).ToList(),
                SecurityContext = new V1PodSecurityContext
                {
                    RunAsNonRoot = true,
                    RunAsUser = WorkerUid,
                    RunAsGroup = WorkerUid,
                    SeccompProfile = new V1SeccompProfile { Type = "RuntimeDefault" },
                },
                Containers =
                [
                    new V1Container
                    {
                        Name = "worker",
                        Image = r.Image,
                        Env =
                        [
                            new V1EnvVar { Name = "OSAI_WORKER_ADDRESS", Value = r.GatewayAddress },
                            // Its algorithms' calls to the gateway (composition, data) go over authenticated gateway channels to the same place.
                            new V1EnvVar { Name = "OSAI_GATEWAY", Value = r.GatewayAddress },
                            new V1EnvVar { Name = "OSAI_WORKER_ID", Value = r.WorkerId },
                            new V1EnvVar { Name = "OSAI_WORKER_SECRET", Value = r.Secret },
                            new V1EnvVar { Name = "OSAI_RUNTIME", Value = r.Runtime },
                            new V1EnvVar { Name = "HOME", Value = "/tmp" },
                            // What this kind of worker is told besides (a model worker's device and memory budget).
                            .. (r.Environment ?? new Dictionary<string, string>()).Select(e => new V1EnvVar { Name = e.Key, Value = e.Value }),
                        ],
                        Resources = new V1ResourceRequirements { Requests = requests, Limits = limits },
                        SecurityContext = new V1SecurityContext
                        {
                            AllowPrivilegeEscalation = false,
                            ReadOnlyRootFilesystem = true,
                            Privileged = false,
                            Capabilities = new V1Capabilities { Drop = ["ALL"] },
                        },
                        VolumeMounts = [new V1VolumeMount { Name = "tmp", MountPath = "/tmp" }],
                    },
                ],
                Volumes = [new V1Volume { Name = "tmp", EmptyDir = new V1EmptyDirVolumeSource { SizeLimit = new ResourceQuantity("1Gi") } }],
            },
        };
    }

    /// <summary>
    /// A pod name from the server and worker ids: DNS-1123, at most 63 characters. The worker id (unique within its server) is
    /// always kept whole; a server id too long to fit (a gateway pod's name) is cut and followed by a hash of the whole of it,
    /// so pods of two servers whose names share a long prefix still differ.
    /// </summary>
    public static string PodName(string serverId, string workerId)
    {
        static string Dns(string s) => NotDns().Replace(s.ToLowerInvariant(), "-").Trim('-');
        var worker = Dns(workerId);
        var server = Dns(serverId);
        var name = $"osai-{server}-{worker}";
        if (name.Length <= 63) return name;
        var hash = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(serverId)))[..8];
        var room = Math.Max(0, 63 - $"osai--{hash}-{worker}".Length);
        var cut = server[..Math.Min(room, server.Length)].TrimEnd('-');
        var shortened = cut.Length > 0 ? $"osai-{cut}-{hash}-{worker}" : $"osai-{hash}-{worker}";
        return shortened.Length <= 63 ? shortened : shortened[..63].TrimEnd('-');   // only a worker id over 40 characters gets here
    }

    /// <summary>
    /// Why a pod that has not connected yet is still waiting, when the cluster says (unschedulable, pulling), else null.
    /// </summary>
    public static string? PendingReason(V1Pod pod)
    {
        var scheduled = pod.Status?.Conditions?.FirstOrDefault(c => c.Type == "PodScheduled");
        if (scheduled is { Status: "False" })
            return $"{scheduled.Reason ?? "Unschedulable"}: {scheduled.Message}".TrimEnd(' ', ':');
        var waiting = pod.Status?.ContainerStatuses?.Select(c => c.State?.Waiting).FirstOrDefault(w => w is not null);
        return waiting is null ? null : $"{waiting.Reason}: {waiting.Message}".TrimEnd(' ', ':');
    }

    /// <summary>
    /// Why a pod will not become a worker, when its status says so for good (image not pullable, failed), else null. With
    /// <paramref name="crashLoopFails"/> false a container in crash-loop back-off is not a failure (a pod whose gateway went
    /// away restarts its worker, which then dials the next gateway).
    /// </summary>
    public static string? FailureReason(V1Pod pod, bool crashLoopFails = true)
    {
        if (pod.Status?.Phase is "Failed" or "Succeeded")
            return $"the worker pod {pod.Metadata?.Name} ended ({pod.Status.Phase}{(pod.Status.Reason is { } r ? ": " + r : "")})";
        foreach (var c in pod.Status?.ContainerStatuses ?? [])
        {
            var w = c.State?.Waiting;
            if (w?.Reason is "ErrImagePull" or "ImagePullBackOff" or "InvalidImageName" or "CreateContainerConfigError" or "CreateContainerError")
                return $"the worker pod {pod.Metadata?.Name} cannot start: {w.Reason}: {w.Message}".TrimEnd(' ', ':');
            if (w?.Reason == "CrashLoopBackOff" && crashLoopFails)
                return $"the worker pod {pod.Metadata?.Name} keeps crashing before it connects" +
                    (c.LastState?.Terminated is { } t ? $" (exit code {t.ExitCode}{(t.Reason is { } tr ? ", " + tr : "")})" : "");
        }
        return null;
    }

    /// <summary>KEY[=VALUE]:EFFECT as a toleration (Equal with a value, Exists without one), or null when malformed.</summary>
    public static V1Toleration? ParseToleration(string text)
    {
        var colon = text.LastIndexOf(':');
        if (colon <= 0) return null;
        var effect = text[(colon + 1)..];
        if (effect is not ("NoSchedule" or "PreferNoSchedule" or "NoExecute")) return null;
        var kv = text[..colon];
        var eq = kv.IndexOf('=');
        var key = eq < 0 ? kv : kv[..eq];
        if (!IsLabelKey(key)) return null;
        if (eq < 0) return new V1Toleration { Key = key, OperatorProperty = "Exists", Effect = effect };
        var value = kv[(eq + 1)..];
        return IsLabelValue(value) ? new V1Toleration { Key = key, OperatorProperty = "Equal", Value = value, Effect = effect } : null;
    }

    public static bool IsDnsSubdomain(string s) => s.Length is > 0 and <= 253 && DnsSubdomain().IsMatch(s);
    public static bool IsDnsLabel(string s) => s.Length is > 0 and <= 63 && DnsLabel().IsMatch(s);
    public static bool IsLabelValue(string s) => s.Length <= 63 && (s.Length == 0 || LabelValue().IsMatch(s));
    public static bool IsLabelKey(string s)
    {
        var slash = s.IndexOf('/');
        var name = slash < 0 ? s : s[(slash + 1)..];
        var prefix = slash < 0 ? null : s[..slash];
        return name.Length is > 0 and <= 63 && LabelValue().IsMatch(name) && (prefix is null || (prefix.Length <= 253 && DnsSubdomain().IsMatch(prefix)));
    }

    [GeneratedRegex("^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")] private static partial Regex DnsLabel();
    [GeneratedRegex("^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")] private static partial Regex DnsSubdomain();
    [GeneratedRegex("^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")] private static partial Regex LabelValue();
    [GeneratedRegex("[^a-z0-9-]")] private static partial Regex NotDns();

    /// <summary>The pool and GPU count for what a worker will run: a version that declares GPU memory goes to the gpu pool.</summary>
    public static (string Pool, int Gpus) Placement(ResourceRequest? resources, KubernetesWorkerOptions o) =>
        resources is { GpuMemoryMb: > 0 } && o.Pools.ContainsKey("gpu") ? ("gpu", 1) : ("cpu", 0);
}
