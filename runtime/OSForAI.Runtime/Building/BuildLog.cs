using System.Text;

namespace OSForAI.Runtime.Building;

/// <summary>
/// The log of one build: every line kept (what <c>GET …/builds/HASH/log</c> returns later) and handed as it comes to whoever
/// follows the build live (the upload request streaming it to <c>osai</c>). Lines from several steps may arrive at once.
/// </summary>
public sealed class BuildLog
{
    private readonly StringBuilder _text = new();
    private readonly object _gate = new();
    private Action<string>? _follower;

    /// <summary>Lines written from now on also go to <paramref name="follower"/> (called under the log's lock, in order).</summary>
    public void Follow(Action<string> follower)
    {
        lock (_gate) _follower = follower;
    }

    public void Line(string line)
    {
        lock (_gate)
        {
            _text.Append(line).Append('\n');
            try { _follower?.Invoke(line); }
            catch (Exception) { _follower = null; }   // a follower that went away stops following; the build goes on
        }
    }

    /// <summary>Several lines (a traceback), each its own line.</summary>
    public void Lines(string text)
    {
        foreach (var l in text.Replace("\r\n", "\n").TrimEnd('\n').Split('\n')) Line(l);
    }

    public override string ToString()
    {
        lock (_gate) return _text.ToString();
    }
}

/// <summary>A build step failed for a reason the build's owner should read (pip's error, a traceback): the build fails with it.</summary>
public sealed class BuildFailedException(string message) : Exception(message);
