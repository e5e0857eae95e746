namespace OSForAI.Components.Synthesis;

/// <summary>Walks expressions: what a value refers to, which packages a program calls.</summary>
public static class ExprTree
{
    /// <summary><paramref name="e"/> and every expression inside it, depth first.</summary>
    public static IEnumerable<Expr> Nodes(Expr e)
    {
        var stack = new Stack<Expr>();
        stack.Push(e);
        while (stack.Count > 0)
        {
            var node = stack.Pop();
            yield return node;
            switch (node)
            {
                case Arr a: for (var i = a.Items.Count - 1; i >= 0; i--) stack.Push(a.Items[i]); break;
                case Obj o: for (var i = o.Entries.Count - 1; i >= 0; i--) stack.Push(o.Entries[i].Value); break;
                case Interp s: for (var i = s.Parts.Count - 1; i >= 0; i--) stack.Push(s.Parts[i]); break;
                case Fn f: stack.Push(f.Argument); break;
                case Invoke inv:
                    stack.Push(inv.Arguments);
                    if (inv.Provider is { } p) stack.Push(p.Self);
                    break;
            }
        }
    }

    /// <summary>The resources an expression refers to (outputs, the resource itself, an invoke's provider).</summary>
    public static IEnumerable<Resource> Resources(Expr e) =>
        Nodes(e).Select(n => n switch { Ref r => r.Resource, Invoke { Provider: { } p } => p, _ => null }).OfType<Resource>();

    /// <summary>The provider function tokens an expression calls: <c>fn::invoke</c> and the shorthand <c>fn::&lt;pkg&gt;:&lt;module&gt;:&lt;fn&gt;</c>.</summary>
    public static IEnumerable<string> Functions(Expr e) =>
        Nodes(e).Select(n => n switch
        {
            Invoke inv => inv.Token,
            Fn f when f.Name.StartsWith("fn::", StringComparison.Ordinal) && f.Name.IndexOf(':', 4) > 0 => f.Name[4..],
            _ => null,
        }).OfType<string>();
}
