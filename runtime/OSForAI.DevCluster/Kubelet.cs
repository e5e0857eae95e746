using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json.Nodes;

namespace OSForAI.DevCluster;

/// <summary>The scheduler and the "kubelet": place pods on nodes, run their container as a local process
/// group, restart it by restartPolicy, and keep status like Kubernetes reports it.</summary>
internal sealed partial class ClusterState
{
    // ---------------------------------------------------------------- scheduler (caller holds _gate)

    private void Schedule()
    {
        if (_disposed) return;
        foreach (var entry in _pods.Values.Where(p => p.Node is null && !p.Deleting).OrderBy(p => p.Sequence).ToList())
        {
            var reasons = new Dictionary<string, int>(StringComparer.Ordinal);
            DevNode? chosen = null;
            foreach (var node in Nodes)
            {
                var failures = Fit(entry, node);
                if (failures.Count == 0) { chosen = node; break; }
                foreach (var f in failures) reasons[f] = reasons.GetValueOrDefault(f) + 1;
            }
            if (chosen is null)
            {
                var message = $"0/{Nodes.Count} nodes are available: "
                    + string.Join(", ", reasons.Select(r => $"{r.Value} {r.Key}").Order(StringComparer.Ordinal)) + ".";
                if (message != entry.UnschedulableMessage)
                {
                    entry.UnschedulableMessage = message;
                    RebuildStatus(entry);
                    Emit("MODIFIED", entry);
                }
                continue;
            }
            var n = Enumerable.Range(1, 254).FirstOrDefault(i => !_ipsInUse.Contains(i));
            if (n == 0) continue; // out of addresses: stays pending
            _ipsInUse.Add(n);
            entry.Node = chosen.Name;
            entry.Ip = $"127.0.1.{n}";
            entry.UnschedulableMessage = null;
            entry.Pod["spec"]!["nodeName"] = chosen.Name;
            entry.StartTime = DateTime.UtcNow;
            RebuildStatus(entry);
            Emit("MODIFIED", entry);
            entry.Lifecycle = Task.Run(() => RunPodAsync(entry));
        }
    }

    /// <summary>Why <paramref name="node"/> cannot take the pod, in the scheduler's words (empty: it fits).
    /// Filters run in Kubernetes' order: taints, node selector, resources.</summary>
    private List<string> Fit(PodEntry entry, DevNode node)
    {
        var tolerations = entry.Pod["spec"]!["tolerations"] as JsonArray ?? [];
        foreach (var taint in node.Taints.Where(t => t.Effect is "NoSchedule" or "NoExecute"))
            if (!tolerations.OfType<JsonObject>().Any(t => Tolerates(t, taint)))
                return [$"node(s) had untolerated taint {{{taint.Key}: {taint.Value}}}"];
        if (entry.Pod["spec"]!["nodeSelector"] is JsonObject selector
            && selector.Any(kv => !node.Labels.TryGetValue(kv.Key, out var v) || v != (string?)kv.Value))
            return ["node(s) didn't match Pod's node affinity/selector"];
        var failures = new List<string>();
        var used = _pods.Values.Where(p => p.Node == node.Name && p.Phase is not ("Succeeded" or "Failed")).ToList();
        if (used.Count + 1 > node.Allocatable["pods"]) failures.Add("Too many pods");
        foreach (var (resource, amount) in entry.Requests)
        {
            if (amount == 0) continue;
            var allocatable = node.Allocatable.GetValueOrDefault(resource);
            var inUse = used.Sum(p => p.Requests.GetValueOrDefault(resource));
            if (inUse + amount > allocatable) failures.Add($"Insufficient {resource}");
        }
        return failures;
    }

    private static bool Tolerates(JsonObject t, (string Key, string Value, string Effect) taint)
    {
        var effect = (string?)t["effect"];
        if (!string.IsNullOrEmpty(effect) && effect != taint.Effect) return false;
        var key = (string?)t["key"];
        if (((string?)t["operator"] ?? "Equal") == "Exists")
            return string.IsNullOrEmpty(key) || key == taint.Key;
        return key == taint.Key && ((string?)t["value"] ?? "") == taint.Value;
    }

    // ---------------------------------------------------------------- status (caller holds _gate)

    private void RebuildStatus(PodEntry entry)
    {
        var now = Time(DateTime.UtcNow);
        var created = (string)entry.Pod["metadata"]!["creationTimestamp"]!;
        var conditions = new JsonArray();
        JsonObject Condition(string type, bool value, string? reason = null, string? message = null)
        {
            var c = new JsonObject { ["type"] = type, ["status"] = value ? "True" : "False", ["lastProbeTime"] = null, ["lastTransitionTime"] = now };
            if (reason is not null) c["reason"] = reason;
            if (message is not null) c["message"] = message;
            return c;
        }
        var status = new JsonObject { ["phase"] = entry.Phase };
        if (entry.Node is null)
        {
            if (entry.UnschedulableMessage is not null)
                conditions.Add(Condition("PodScheduled", false, "Unschedulable", entry.UnschedulableMessage));
        }
        else
        {
            var notReady = entry.Ready ? null : "ContainersNotReady";
            var notReadyMessage = entry.Ready ? null : $"containers with unready status: [{entry.Container}]";
            conditions.Add(Condition("PodReadyToStartContainers", true));
            conditions.Add(Condition("Initialized", true));
            conditions.Add(Condition("Ready", entry.Ready, notReady, notReadyMessage));
            conditions.Add(Condition("ContainersReady", entry.Ready, notReady, notReadyMessage));
            conditions.Add(Condition("PodScheduled", true));
            status["hostIP"] = "127.0.0.1";
            status["hostIPs"] = new JsonArray(new JsonObject { ["ip"] = "127.0.0.1" });
            status["podIP"] = entry.Ip;
            status["podIPs"] = new JsonArray(new JsonObject { ["ip"] = entry.Ip });
            status["startTime"] = Time(entry.StartTime ?? DateTime.UtcNow);
            var cs = new JsonObject
            {
                ["name"] = entry.Container,
                ["state"] = entry.State?.DeepClone() ?? new JsonObject(),
                ["lastState"] = entry.LastState?.DeepClone() ?? new JsonObject(),
                ["ready"] = entry.Ready,
                ["restartCount"] = entry.RestartCount,
                ["image"] = entry.Image,
                ["imageID"] = "",
                ["started"] = entry.State?["running"] is not null,
            };
            if (entry.ProcessId is { } pid) cs["containerID"] = $"process://{pid}";
            status["containerStatuses"] = new JsonArray(cs);
        }
        status["conditions"] = conditions;
        status["qosClass"] = QosClass(entry);
        _ = created;
        entry.Pod["status"] = status;
    }

    private static string QosClass(PodEntry entry)
    {
        var resources = entry.Pod["spec"]!["containers"]![0]!["resources"] as JsonObject;
        var requests = resources?["requests"] as JsonObject;
        var limits = resources?["limits"] as JsonObject;
        if ((requests is null || requests.Count == 0) && (limits is null || limits.Count == 0)) return "BestEffort";
        if (limits is not null && limits.ContainsKey("cpu") && limits.ContainsKey("memory")
            && (requests is null || requests.All(r => limits[r.Key]?.ToString() == r.Value?.ToString())))
            return "Guaranteed";
        return "Burstable";
    }

    private void Update(PodEntry entry, Action change)
    {
        lock (_gate)
        {
            if (entry.Deleting && entry.Life.IsCancellationRequested && !_pods.ContainsKey((entry.Namespace, entry.Name))) return;
            change();
            RebuildStatus(entry);
            Emit("MODIFIED", entry);
        }
    }

    // ---------------------------------------------------------------- kubelet

    private DevImage? ResolveImage(string image) =>
        _options.Images.Where(kv => image.StartsWith(kv.Key, StringComparison.Ordinal))
            .OrderByDescending(kv => kv.Key.Length).Select(kv => kv.Value).FirstOrDefault();

    private async Task RunPodAsync(PodEntry entry)
    {
        var token = entry.Life.Token;
        var image = ResolveImage(entry.Image);
        if (image is null)
        {
            Update(entry, () => entry.State = Waiting("ErrImagePull",
                $"failed to pull image \"{entry.Image}\": the OSForAI dev cluster has no local command for this image (DevClusterOptions.Images)"));
            await Task.Delay(TimeSpan.FromSeconds(1), token).ConfigureAwait(false);
            Update(entry, () => entry.State = Waiting("ImagePullBackOff", $"Back-off pulling image \"{entry.Image}\""));
            return;
        }
        var backoff = _options.InitialRestartBackoff;
        var restarting = false; // a container of this pod has exited and the next start is a restart
        while (!token.IsCancellationRequested)
        {
            Process process;
            DateTime started;
            var log = new StringBuilder(); // this container's own log: output it writes late never lands in another's
            try
            {
                process = StartProcess(entry, image, log);
                started = DateTime.UtcNow;
            }
            catch (Exception e) when (e is System.ComponentModel.Win32Exception or InvalidOperationException or IOException)
            {
                Update(entry, () => entry.State = Waiting("RunContainerError", $"failed to start container \"{entry.Container}\": {e.Message}"));
                await Task.Delay(backoff, token).ConfigureAwait(false);
                continue;
            }
            // The container is its own process group only once setsid has run in the child, which can be
            // well after Process.Start returns on a loaded machine; until then a signal to -pid reaches
            // nothing. Report it running (and hand out its pid) only when -pid is the container.
            await WaitForOwnProcessGroupAsync(process).ConfigureAwait(false);
            var wasRestart = restarting;
            restarting = false;
            // One status change: the restart count, the previous log and the running state move together,
            // so no reader sees a restart counted whose log or state is not yet the new container's.
            Update(entry, () =>
            {
                if (wasRestart)
                {
                    entry.RestartCount++;
                    lock (entry.Log) entry.PreviousLog = entry.Log.ToString();
                }
                entry.Log = log;
                entry.Process = process;
                entry.ProcessId = process.Id;
                entry.Phase = "Running";
                entry.Ready = true;
                entry.State = new JsonObject { ["running"] = new JsonObject { ["startedAt"] = Time(started) } };
            });
            try
            {
                await process.WaitForExitAsync(token).ConfigureAwait(false); // exit, and both output streams drained
            }
            catch (OperationCanceledException)
            {
                return; // deleted or disposed: the terminator stops the process
            }
            var exitCode = process.ExitCode;
            var terminated = new JsonObject
            {
                ["exitCode"] = exitCode,
                ["reason"] = exitCode == 0 ? "Completed" : "Error",
                ["startedAt"] = Time(started),
                ["finishedAt"] = Time(DateTime.UtcNow),
                ["containerID"] = $"process://{process.Id}",
            };
            var restart = entry.RestartPolicy == "Always" || (entry.RestartPolicy == "OnFailure" && exitCode != 0);
            if (!restart)
            {
                Update(entry, () =>
                {
                    entry.Ready = false;
                    entry.State = new JsonObject { ["terminated"] = terminated };
                    entry.Phase = exitCode == 0 ? "Succeeded" : "Failed";
                    entry.Process = null;
                });
                lock (_gate) Schedule(); // its resources are free again
                return;
            }
            var delay = backoff;
            Update(entry, () =>
            {
                entry.Ready = false;
                entry.LastState = new JsonObject { ["terminated"] = terminated.DeepClone() };
                entry.State = Waiting("CrashLoopBackOff",
                    $"back-off {(int)Math.Ceiling(delay.TotalSeconds)}s restarting failed container={entry.Container} pod={entry.Name}_{entry.Namespace}({(string?)entry.Pod["metadata"]!["uid"]})");
                entry.Process = null;
            });
            restarting = true;
            await Task.Delay(delay, token).ConfigureAwait(false);
            backoff = backoff * 2 < _options.MaxRestartBackoff ? backoff * 2 : _options.MaxRestartBackoff;
        }
    }

    /// <summary>Waits until the container process leads its own process group (setsid has run in it), or is gone.</summary>
    private static async Task WaitForOwnProcessGroupAsync(Process process)
    {
        var pid = process.Id;
        // getpgid fails (ESRCH) once the process is gone and reaped; an exited one is not waited for.
        while (GetPgid(pid) is var pgid && pgid != pid && pgid != -1 && !process.HasExited)
            await Task.Delay(1).ConfigureAwait(false);
    }

    private static JsonObject Waiting(string reason, string message) =>
        new() { ["waiting"] = new JsonObject { ["reason"] = reason, ["message"] = message } };

    private Process StartProcess(PodEntry entry, DevImage image, StringBuilder log)
    {
        var container = entry.Pod["spec"]!["containers"]![0]!.AsObject();
        var info = new ProcessStartInfo("/usr/bin/setsid")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        foreach (var part in image.Command) info.ArgumentList.Add(part);
        if (container["args"] is JsonArray args)
            foreach (var a in args) info.ArgumentList.Add((string)a!);
        var workDir = (string?)container["workingDir"] ?? image.WorkingDirectory;
        if (workDir is null)
        {
            workDir = Path.Combine(_workRoot, entry.Namespace, entry.Name);
            Directory.CreateDirectory(workDir);
        }
        info.WorkingDirectory = workDir;
        info.Environment.Clear();
        foreach (var name in _options.PassThroughEnvironment)
            if (Environment.GetEnvironmentVariable(name) is { } value) info.Environment[name] = value;
        info.Environment["HOSTNAME"] = entry.Name;
        if (image.Environment is not null)
            foreach (var (k, v) in image.Environment) info.Environment[k] = v;
        if (container["env"] is JsonArray env)
        {
            foreach (var item in env.OfType<JsonObject>())
            {
                var name = (string)item["name"]!;
                string? value = (string?)item["value"];
                if ((string?)item["valueFrom"]?["fieldRef"]?["fieldPath"] is { } path)
                    value = path switch
                    {
                        "status.podIP" => entry.Ip,
                        "status.hostIP" => "127.0.0.1",
                        "metadata.name" => entry.Name,
                        "metadata.namespace" => entry.Namespace,
                        "spec.nodeName" => entry.Node,
                        _ => null,
                    };
                info.Environment[name] = value ?? "";
            }
        }
        var process = new Process { StartInfo = info };
        void Append(string? line)
        {
            if (line is null) return;
            lock (log) log.Append(line).Append('\n');
        }
        process.OutputDataReceived += (_, e) => Append(e.Data);
        process.ErrorDataReceived += (_, e) => Append(e.Data);
        process.Start();
        process.StandardInput.Close();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return process;
    }

    [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static partial int Kill(int pid, int signal);

    [LibraryImport("libc", EntryPoint = "getpgid", SetLastError = true)]
    private static partial int GetPgid(int pid);

    private const int SigTerm = 15;
    private const int SigKill = 9;

    /// <summary>SIGKILLs a pod's process group now (a crash, for tests); false if it has none.</summary>
    public bool KillProcess(string ns, string name)
    {
        int? pid;
        lock (_gate) pid = _pods.TryGetValue((ns, name), out var e) ? e.ProcessId : null;
        return pid is { } p && Kill(-p, SigKill) == 0;
    }

    /// <summary>Whether a process (or its group) still exists.</summary>
    public static bool IsAlive(int pid) => Kill(pid, 0) == 0 || Kill(-pid, 0) == 0;

    private static async Task StopProcessAsync(PodEntry entry, TimeSpan grace)
    {
        var process = entry.Process;
        var pid = entry.ProcessId;
        if (pid is null) return;
        if (grace > TimeSpan.Zero) Kill(-pid.Value, SigTerm);
        if (process is not null && !process.HasExited && grace > TimeSpan.Zero)
        {
            using var timeout = new CancellationTokenSource(grace);
            try { await process.WaitForExitAsync(timeout.Token).ConfigureAwait(false); } catch (OperationCanceledException) { }
        }
        Kill(-pid.Value, SigKill); // the whole group, children included
        if (process is not null)
        {
            try { process.Kill(entireProcessTree: true); } catch (InvalidOperationException) { }
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
            try { await process.WaitForExitAsync(timeout.Token).ConfigureAwait(false); } catch (OperationCanceledException) { }
        }
    }
}
