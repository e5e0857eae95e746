namespace OSForAI.Runtime.Workers.Isolation;

/// <summary>
/// Host user ids for sandboxed workers when the server runs as root: each live worker gets its own uid from a
/// range no account uses, so workers share no files, signals or process limits with the server or each other.
/// A uid goes back to the range when its worker is gone.
/// </summary>
public sealed class WorkerUids(int first, int count)
{
    private readonly bool[] _taken = new bool[count];
    private int _next;

    /// <summary>A free uid, or null when the range is used up.</summary>
    public Lease? Take()
    {
        lock (_taken)
        {
            for (var i = 0; i < _taken.Length; i++)
            {
                var slot = (_next + i) % _taken.Length;
                if (_taken[slot]) continue;
                _taken[slot] = true;
                _next = slot + 1;
                return new Lease(this, first + slot);
            }
            return null;
        }
    }

    private void Give(int uid)
    {
        lock (_taken) _taken[uid - first] = false;
    }

    public sealed class Lease(WorkerUids owner, int uid) : IDisposable
    {
        private int _returned;
        public int Uid { get; } = uid;
        public void Dispose() { if (Interlocked.Exchange(ref _returned, 1) == 0) owner.Give(Uid); }
    }
}
