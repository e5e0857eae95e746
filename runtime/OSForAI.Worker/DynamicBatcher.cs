using System.Diagnostics;
using System.Threading.Channels;
using OSForAI.WorkerProtocol;

namespace OSForAI.Worker;

/// <summary>
/// Merges concurrent calls of one model along dimension 0 and runs them once. Up to Instances runs are in
/// flight at a time; calls that arrive while they all run wait and form the next batch (up to MaxBatchSize
/// rows), so an idle model answers a lone call at once and a busy one batches automatically.
/// MaxQueueDelayMs, when set, additionally lets the first call of a batch wait that long for companions.
/// </summary>
public sealed class DynamicBatcher : IAsyncDisposable
{
    public const int QueueLimit = 4096;
    private readonly OnnxModel _model;
    private readonly Channel<Pending> _queue = Channel.CreateBounded<Pending>(new BoundedChannelOptions(QueueLimit)
    {
        SingleReader = true,
        FullMode = BoundedChannelFullMode.Wait,
    });
    private readonly Task _loop;
    private readonly SemaphoreSlim _executors;
    private Pending? _carried;

    public DynamicBatcher(OnnxModel model)
    {
        _model = model;
        _executors = new SemaphoreSlim(Math.Max(1, model.Settings.Instances));
        _loop = Task.Factory.StartNew(LoopAsync, TaskCreationOptions.LongRunning).Unwrap();
    }

    public Task<InferenceResult> SubmitAsync(IReadOnlyList<Tensor> inputs, CancellationToken cancel = default)
    {
        var pending = new Pending(inputs, inputs[0].Shape[0], Stopwatch.GetTimestamp());
        // A cancelled call still waiting in the queue is answered at once and skipped when batches form.
        if (cancel.CanBeCanceled) cancel.Register(() => pending.Done.TrySetCanceled(cancel));
        if (!_queue.Writer.TryWrite(pending))
            throw new WorkerException("QueueFull", $"model {_model.Settings.Id} has {QueueLimit} calls waiting already");
        return pending.Done.Task;
    }

    private async Task LoopAsync()
    {
        var reader = _queue.Reader;
        var delay = TimeSpan.FromMilliseconds(_model.Settings.MaxQueueDelayMs);
        while (true)
        {
            // Form a batch only when a run can start: calls keep accumulating while every executor is busy.
            await _executors.WaitAsync();
            Pending first;
            if (_carried is { } carried) { first = carried; _carried = null; }
            else
            {
                if (!await reader.WaitToReadAsync()) { await DrainAsync(); return; }
                if (!reader.TryRead(out first!)) { _executors.Release(); continue; }
            }
            if (first.Done.Task.IsCompleted) { _executors.Release(); continue; }
            var batch = new List<Pending> { first };
            var rows = first.Rows;
            while (rows < _model.Settings.MaxBatchSize)
            {
                if (reader.TryRead(out var next))
                {
                    if (next.Done.Task.IsCompleted) continue;
                    if (rows + next.Rows <= _model.Settings.MaxBatchSize && Compatible(first, next))
                    {
                        batch.Add(next);
                        rows += next.Rows;
                        continue;
                    }
                    _carried = next;   // starts the following batch
                    break;
                }
                var waited = Stopwatch.GetElapsedTime(first.Enqueued);
                if (waited >= delay) break;
                using var cts = new CancellationTokenSource(delay - waited);
                try { if (!await reader.WaitToReadAsync(cts.Token)) break; }
                catch (OperationCanceledException) { break; }
            }
            var rowsInBatch = rows;
            _ = Task.Run(() =>
            {
                try { Execute(batch, rowsInBatch); }
                finally { _executors.Release(); }
            });
        }
    }

    /// <summary>Waits for the runs in flight to finish (on disposal).</summary>
    private async Task DrainAsync()
    {
        var n = Math.Max(1, _model.Settings.Instances);
        for (var i = 1; i < n; i++) await _executors.WaitAsync();
    }

    /// <summary>Calls can share a run when every input agrees on all dimensions but the first.</summary>
    private static bool Compatible(Pending a, Pending b)
    {
        for (var i = 0; i < a.Inputs.Count; i++)
            if (!a.Inputs[i].Shape.AsSpan(1).SequenceEqual(b.Inputs[i].Shape.AsSpan(1))) return false;
        return true;
    }

    private void Execute(List<Pending> batch, long rows)
    {
        try
        {
            var inputs = batch.Count == 1 ? batch[0].Inputs : Merge(batch, rows);
            using var run = _model.Run(inputs);
            long start = 0;
            foreach (var p in batch)
            {
                var outputs = batch.Count == 1 ? run.Outputs : run.Outputs.Select(o => Slice(o, rows, start, p.Rows)).ToList();
                p.Done.TrySetResult(new InferenceResult(TensorBundle.Encode(outputs), batch.Count, rows));
                start += p.Rows;
            }
        }
        catch (Exception e)
        {
            foreach (var p in batch) p.Done.TrySetException(e);
        }
    }

    /// <summary>Row-major tensors merge along dimension 0 by concatenating their bytes.</summary>
    private static List<Tensor> Merge(List<Pending> batch, long rows)
    {
        var merged = new List<Tensor>(batch[0].Inputs.Count);
        for (var i = 0; i < batch[0].Inputs.Count; i++)
        {
            var size = batch.Sum(p => p.Inputs[i].Data.Length);
            var data = new byte[size];
            var offset = 0;
            foreach (var p in batch)
            {
                p.Inputs[i].Data.Span.CopyTo(data.AsSpan(offset));
                offset += p.Inputs[i].Data.Length;
            }
            var shape = (long[])batch[0].Inputs[i].Shape.Clone();
            shape[0] = rows;
            merged.Add(new Tensor(batch[0].Inputs[i].Name, batch[0].Inputs[i].Type, shape, data));
        }
        return merged;
    }

    private static Tensor Slice(Tensor output, long totalRows, long start, long rows)
    {
        if (output.Shape.Length == 0 || output.Shape[0] != totalRows)
            throw new WorkerException("AlgorithmError", $"output '{output.Name}' has {(output.Shape.Length == 0 ? 0 : output.Shape[0])} rows for a batch of {totalRows}; the model cannot be batched");
        var rowBytes = output.Data.Length / totalRows;
        var shape = (long[])output.Shape.Clone();
        shape[0] = rows;
        return new Tensor(output.Name, output.Type, shape, output.Data.Slice((int)(start * rowBytes), (int)(rows * rowBytes)));
    }

    public async ValueTask DisposeAsync()
    {
        _queue.Writer.TryComplete();
        await _loop;
    }

    private sealed record Pending(IReadOnlyList<Tensor> Inputs, long Rows, long Enqueued)
    {
        public TaskCompletionSource<InferenceResult> Done { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }
}
