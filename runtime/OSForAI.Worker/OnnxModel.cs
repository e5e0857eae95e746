using System.Buffers;
using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text;
using Microsoft.ML.OnnxRuntime;
using TensorElementType = Microsoft.ML.OnnxRuntime.Tensors.TensorElementType;
using OSForAI.WorkerProtocol;

namespace OSForAI.Worker;

/// <summary>
/// One ONNX Runtime session and what it needs to run: input/output signatures, the device it got
/// (with the reason when it fell back to the CPU), and output buffers preallocated from the pool
/// whenever an output's shape is known before the run.
/// </summary>
public sealed class OnnxModel : IDisposable
{
    private readonly InferenceSession _session;
    private readonly RunOptions _runOptions = new();
    private readonly string[] _inputNames;
    private readonly string[] _outputNames;

    private OnnxModel(ModelSettings settings, InferenceSession session, string device, string? fallbackReason, long residentBytes, double loadMs)
    {
        Settings = settings;
        _session = session;
        Device = device;
        FallbackReason = fallbackReason;
        ResidentBytes = residentBytes;
        LoadMs = loadMs;
        Inputs = session.InputMetadata.Select(kv => SpecOf(kv.Key, kv.Value)).ToList();
        Outputs = session.OutputMetadata.Select(kv => SpecOf(kv.Key, kv.Value)).ToList();
        _inputNames = Inputs.Select(i => i.Name).ToArray();
        _outputNames = Outputs.Select(o => o.Name).ToArray();
        // Batching merges along dimension 0: every input and output must have a free first dimension.
        Batchable = settings.MaxBatchSize > 1
            && Inputs.All(i => i.Shape.Length > 0 && i.Shape[0] == -1)
            && Outputs.All(o => o.Shape.Length > 0 && o.Shape[0] == -1 && o.Type != TensorType.Bytes);
    }

    public ModelSettings Settings { get; }
    public IReadOnlyList<TensorSpec> Inputs { get; }
    public IReadOnlyList<TensorSpec> Outputs { get; }
    public string Device { get; }
    public string? FallbackReason { get; }
    public long ResidentBytes { get; }
    public double LoadMs { get; }
    public bool Batchable { get; }

    /// <summary>Creates the session on the GPU when asked and possible, else on the CPU. Throws <see cref="WorkerException"/> (LoadError).</summary>
    public static OnnxModel Load(ModelSettings settings, WorkerSettings worker)
    {
        var started = Stopwatch.GetTimestamp();
        if (!File.Exists(settings.Path)) throw new WorkerException("LoadError", $"model file {settings.Path} does not exist");
        var resident = CostOf(settings);
        string? fallback = null;
        if (worker.WantsGpu(settings.Device))
        {
            var options = NewOptions(settings);
            try
            {
                options.AppendExecutionProvider_CUDA(worker.GpuDeviceId);
                var session = new InferenceSession(settings.Path, options);
                return new OnnxModel(settings, session, $"cuda:{worker.GpuDeviceId}", null, resident, Stopwatch.GetElapsedTime(started).TotalMilliseconds);
            }
            catch (OnnxRuntimeException e)
            {
                // No usable CUDA here (library, driver or device missing): serve from the CPU and say why.
                fallback = "CUDA execution provider unavailable: " + FirstLine(e.Message);
                Console.Error.WriteLine($"model {settings.Id}: {fallback}; falling back to the CPU");
            }
            finally { options.Dispose(); }
        }
        using var cpuOptions = NewOptions(settings);
        try
        {
            var session = new InferenceSession(settings.Path, cpuOptions);
            return new OnnxModel(settings, session, "cpu", fallback, resident, Stopwatch.GetElapsedTime(started).TotalMilliseconds);
        }
        catch (OnnxRuntimeException e)
        {
            throw new WorkerException("LoadError", $"ONNX Runtime could not create a session for this model: {FirstLine(e.Message)}");
        }
    }

    /// <summary>What a model counts against the memory budget: its declared need or its file size, whichever is larger.</summary>
    public static long CostOf(ModelSettings settings) =>
        Math.Max(settings.MemoryBytes, File.Exists(settings.Path) ? new FileInfo(settings.Path).Length : 0);

    private static SessionOptions NewOptions(ModelSettings s)
    {
        var o = new SessionOptions
        {
            IntraOpNumThreads = s.IntraOpThreads,
            GraphOptimizationLevel = s.GraphOptimization switch
            {
                "none" => GraphOptimizationLevel.ORT_DISABLE_ALL,
                "basic" => GraphOptimizationLevel.ORT_ENABLE_BASIC,
                "extended" => GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
                _ => GraphOptimizationLevel.ORT_ENABLE_ALL,
            },
            LogSeverityLevel = OrtLoggingLevel.ORT_LOGGING_LEVEL_ERROR,
        };
        return o;
    }

    private static string FirstLine(string s) => s.Split('\n')[0].Trim();

    private static TensorSpec SpecOf(string name, NodeMetadata m)
    {
        if (m.OnnxValueType != OnnxValueType.ONNX_TYPE_TENSOR)
            throw new WorkerException("LoadError", $"'{name}' is a {m.OnnxValueType}; only tensor inputs and outputs are served");
        var type = TensorTypes.FromOnnx((int)m.ElementDataType)
            ?? throw new WorkerException("LoadError", $"'{name}' has element type {m.ElementDataType}, which the inference protocol cannot carry");
        return new TensorSpec(name, type, m.Dimensions.Select(d => d < 0 ? -1L : d).ToArray());
    }

    /// <summary>Checks one call's inputs against the signature; throws <see cref="WorkerException"/> (InputError).</summary>
    public void Validate(IReadOnlyList<Tensor> inputs)
    {
        if (inputs.Count != Inputs.Count)
            throw new WorkerException("InputError", $"the model takes {Inputs.Count} input(s) ({string.Join(", ", _inputNames)}), got {inputs.Count}");
        for (var i = 0; i < inputs.Count; i++)
        {
            var t = inputs[i];
            var spec = Inputs[i];
            if (t.Name != spec.Name) throw new WorkerException("InputError", $"input {i} must be '{spec.Name}', got '{t.Name}'");
            if (t.Type != spec.Type) throw new WorkerException("InputError", $"input '{t.Name}' must be {spec.Type.Name()}, got {t.Type.Name()}");
            if (t.Shape.Length != spec.Shape.Length || t.Shape.Where((d, k) => spec.Shape[k] >= 0 && spec.Shape[k] != d).Any())
                throw new WorkerException("InputError", $"input '{t.Name}' must have shape {spec.ShapeText}, got [{string.Join(",", t.Shape)}]");
        }
    }

    /// <summary>Runs once on <paramref name="inputs"/> (in signature order). Dispose the run after reading its outputs.</summary>
    public ModelRun Run(IReadOnlyList<Tensor> inputs, RunOptions? options = null)
    {
        var runOptions = options ?? _runOptions;
        var run = new ModelRun();
        try
        {
            var inputValues = new OrtValue[inputs.Count];
            for (var i = 0; i < inputs.Count; i++) inputValues[i] = ToOrtValue(inputs[i], run);

            // Preallocate every output whose shape is known before the run: fixed, or fixed but for the batch dimension.
            var rows = inputs.Count > 0 && inputs[0].Shape.Length > 0 ? inputs[0].Shape[0] : 1;
            var outputValues = new OrtValue[_outputNames.Length];
            var tensors = new Tensor?[_outputNames.Length];
            for (var o = 0; o < Outputs.Count; o++)
            {
                var spec = Outputs[o];
                if (spec.Type == TensorType.Bytes) break;
                var shape = spec.Shape.Select((d, k) => k == 0 && d == -1 && Batchable ? rows : d).ToArray();
                if (shape.Any(d => d < 0)) break;
                var bytes = (int)(TensorBundle.ElementCount(shape) * spec.Type.ElementSize());
                var buffer = run.Rent(bytes);
                outputValues[o] = run.Own(Wrap(run.Pin(buffer.AsMemory(0, bytes)), spec.Type, shape, bytes));
                tensors[o] = new Tensor(spec.Name, spec.Type, shape, buffer.AsMemory(0, bytes));
            }

            if (tensors.All(t => t is not null))
            {
                _session.Run(runOptions, _inputNames, inputValues, _outputNames, outputValues);
                run.Outputs = tensors!;
                return run;
            }
            // Some output's shape is only known after the run: let ONNX Runtime allocate, then copy out.
            using var produced = _session.Run(runOptions, _inputNames, inputValues, _outputNames);
            run.Outputs = produced.Select((v, o) => CopyOut(v, Outputs[o])).ToArray();
            return run;
        }
        catch
        {
            run.Dispose();
            throw;
        }
    }

    private static Tensor CopyOut(OrtValue value, TensorSpec spec)
    {
        var shape = value.GetTensorTypeAndShape().Shape;
        if (spec.Type != TensorType.Bytes) return new Tensor(spec.Name, spec.Type, shape, value.GetTensorMutableRawData().ToArray());
        var count = (int)TensorBundle.ElementCount(shape);
        var ms = new MemoryStream();
        Span<byte> len = stackalloc byte[4];
        for (var i = 0; i < count; i++)
        {
            var bytes = Encoding.UTF8.GetBytes(value.GetStringElement(i));
            System.Buffers.Binary.BinaryPrimitives.WriteUInt32LittleEndian(len, (uint)bytes.Length);
            ms.Write(len);
            ms.Write(bytes);
        }
        return new Tensor(spec.Name, spec.Type, shape, ms.ToArray());
    }

    private static unsafe OrtValue Wrap(MemoryHandle pin, TensorType type, long[] shape, long bytes) =>
        OrtValue.CreateTensorValueWithData(OrtMemoryInfo.DefaultInstance, (TensorElementType)type.ToOnnx(), shape, (IntPtr)pin.Pointer, bytes);

    private static OrtValue ToOrtValue(Tensor t, ModelRun run)
    {
        if (t.Type != TensorType.Bytes) return run.Own(Wrap(run.Pin(MemoryMarshal.AsMemory(t.Data)), t.Type, t.Shape, t.Data.Length));
        var value = run.Own(OrtValue.CreateTensorWithEmptyStrings(OrtAllocator.DefaultInstance, t.Shape));
        var span = t.Data.Span;
        var offset = 0;
        for (var i = 0; offset < span.Length; i++)
        {
            var len = (int)System.Buffers.Binary.BinaryPrimitives.ReadUInt32LittleEndian(span[offset..]);
            value.StringTensorSetElementAt(span.Slice(offset + 4, len), i);
            offset += 4 + len;
        }
        return value;
    }

    public void Dispose()
    {
        _session.Dispose();
        _runOptions.Dispose();
    }
}

/// <summary>
/// The outputs of one run, in signature order, plus what they borrow (pinned inputs, pooled output
/// buffers, native values); disposing returns it all.
/// </summary>
public sealed class ModelRun : IDisposable
{
    private readonly List<MemoryHandle> _pins = [];
    private readonly List<OrtValue> _values = [];
    private readonly List<byte[]> _rented = [];

    public IReadOnlyList<Tensor> Outputs { get; internal set; } = [];

    internal MemoryHandle Pin(Memory<byte> memory)
    {
        var pin = memory.Pin();
        _pins.Add(pin);
        return pin;
    }

    internal OrtValue Own(OrtValue value)
    {
        _values.Add(value);
        return value;
    }

    internal byte[] Rent(int bytes)
    {
        var buffer = ArrayPool<byte>.Shared.Rent(Math.Max(1, bytes));
        _rented.Add(buffer);
        return buffer;
    }

    public void Dispose()
    {
        foreach (var v in _values) v.Dispose();
        foreach (var p in _pins) p.Dispose();
        foreach (var r in _rented) ArrayPool<byte>.Shared.Return(r);
        _values.Clear();
        _pins.Clear();
        _rented.Clear();
    }
}
