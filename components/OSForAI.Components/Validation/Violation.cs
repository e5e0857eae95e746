namespace OSForAI.Components.Validation;

/// <summary>
/// One problem in a program: where (<see cref="Resource"/>: the resource's logical name, or a variable, output or
/// config key's name; <see cref="Type"/>: the resource's type token, or "variable", "output", "config";
/// <see cref="Property"/>: a path such as <c>scalingConfig.maxSize</c> or <c>taints[0].effect</c>, empty for the whole
/// resource) and what.
/// </summary>
public sealed record Violation(string Resource, string Property, string Message, string? Type = null)
{
    /// <summary><c>ml-gpu (aws:eks/nodeGroup:NodeGroup): scalingConfig.maxSize: expected a number, got string "x"</c>.</summary>
    public override string ToString() =>
        (Type is null ? Resource : $"{Resource} ({Type})") + (Property.Length == 0 ? "" : ": " + Property) + ": " + Message;
}
