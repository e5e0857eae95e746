namespace OSForAI.Runtime;

/// <summary>The gateway's own base URL, known once the host has bound its port; algorithms call other algorithms through it.</summary>
public sealed class GatewayAddress
{
    public string? Url { get; set; }
}
