using OSForAI.WorkerProtocol;

namespace OSForAI.Worker;

/// <summary>Where a model asks to run: the node's choice, the CPU, or a GPU when one can be used.</summary>
public enum DevicePreference { Auto, Cpu, Gpu }

/// <summary>
/// How one model is loaded and run, as the host sends it with every load and invoke
/// (docs/worker-protocol.md, "Multi-model workers"). The model is loaded on demand from these.
/// </summary>
public sealed record ModelSettings
{
    public required string Id { get; init; }
    public required string Path { get; init; }
    public DevicePreference Device { get; init; } = DevicePreference.Auto;
    /// <summary>Most rows one merged run may hold; 1 turns dynamic batching off.</summary>
    public int MaxBatchSize { get; init; } = 1;
    /// <summary>How long the first request of a batch may wait for others while the model is idle (0: run at once).</summary>
    public double MaxQueueDelayMs { get; init; }
    /// <summary>Runs of this model that may be in flight at once, batched or not.</summary>
    public int Instances { get; init; } = 2;
    public int IntraOpThreads { get; init; }
    public string GraphOptimization { get; init; } = "all";
    /// <summary>Declared device memory need; the file size is used when it is larger.</summary>
    public long MemoryBytes { get; init; }

    public static ModelSettings FromHeader(Frame f)
    {
        var id = f.GetString("model");
        var path = f.GetString("model_path");
        if (string.IsNullOrEmpty(id) || string.IsNullOrEmpty(path)) throw new ArgumentException("'model' and 'model_path' are required");
        return new ModelSettings
        {
            Id = id,
            Path = path,
            Device = ParseDevice(f.GetString("device")),
            MaxBatchSize = Math.Max(1, f.GetInt("max_batch_size")),
            MaxQueueDelayMs = Math.Max(0, f.GetDouble("max_queue_delay_ms")),
            Instances = f.GetInt("instances") is > 0 and var n ? n : 2,
            IntraOpThreads = Math.Max(0, f.GetInt("intra_op_threads")),
            GraphOptimization = f.GetString("graph_optimization") ?? "all",
            MemoryBytes = (long)Math.Max(0, f.GetDouble("memory_bytes")),
        };
    }

    public static DevicePreference ParseDevice(string? text) => text?.ToLowerInvariant() switch
    {
        null or "" or "auto" => DevicePreference.Auto,
        "cpu" => DevicePreference.Cpu,
        "gpu" or "cuda" => DevicePreference.Gpu,
        _ => throw new ArgumentException($"device must be auto, cpu or gpu, not '{text}'"),
    };
}

/// <summary>The worker's own settings, from the environment the host starts it with.</summary>
public sealed record WorkerSettings(DevicePreference NodeDevice, long MemoryBudgetBytes, int GpuDeviceId)
{
    public static WorkerSettings FromEnvironment()
    {
        var budget = long.TryParse(Environment.GetEnvironmentVariable("OSAI_MODEL_MEMORY_BUDGET"), out var b) && b > 0 ? b : 4L << 30;
        var gpu = int.TryParse(Environment.GetEnvironmentVariable("OSAI_GPU_DEVICE_ID"), out var g) ? g : 0;
        return new WorkerSettings(ModelSettings.ParseDevice(Environment.GetEnvironmentVariable("OSAI_DEVICE")), budget, gpu);
    }

    /// <summary>Whether a model with <paramref name="asked"/> should try the CUDA provider on this node.</summary>
    public bool WantsGpu(DevicePreference asked) => asked switch
    {
        DevicePreference.Cpu => false,
        DevicePreference.Gpu => true,
        // The node decides; "auto" tries CUDA only where an NVIDIA device node exists.
        _ => NodeDevice == DevicePreference.Gpu || (NodeDevice == DevicePreference.Auto && File.Exists("/dev/nvidiactl")),
    };
}

/// <summary>A request the worker refuses with a given error type (sent back as an error reply).</summary>
public sealed class WorkerException(string errorType, string message) : Exception(message)
{
    public string ErrorType { get; } = errorType;
}

/// <summary>A call's outputs plus how it was run (for the host's metrics and tests).</summary>
public sealed record InferenceResult(byte[] Bundle, int BatchRequests, long BatchRows);
