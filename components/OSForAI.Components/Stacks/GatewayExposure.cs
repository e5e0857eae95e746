using OSForAI.Components.Kubernetes;
using OSForAI.Components.Synthesis;

namespace OSForAI.Components.Stacks;

/// <summary>
/// How a cloud stack exposes the gateway, from the stack's settings: HTTPS with the certificate of <c>tlsCertificate</c> and
/// <c>tlsPrivateKey</c> (secrets), or plain HTTP only where <c>allowPlainHttp</c> is true; and a public load balancer, or an internal
/// one (<c>internalLoadBalancer</c>: only the private network reaches it) through the cloud's Service annotations.
/// </summary>
public static class GatewayExposure
{
    /// <summary>
    /// The Service annotations that make <paramref name="cloud"/>'s load balancer internal. AWS: the in-tree service controller reads
    /// <c>aws-load-balancer-internal</c>, the AWS Load Balancer Controller <c>aws-load-balancer-scheme</c>; both are set so either works.
    /// </summary>
    public static IReadOnlyList<KeyValuePair<string, Expr>> InternalAnnotations(string cloud) => cloud switch
    {
        "aws" => [new("service.beta.kubernetes.io/aws-load-balancer-internal", "true"), new("service.beta.kubernetes.io/aws-load-balancer-scheme", "internal")],
        "azure" => [new("service.beta.kubernetes.io/azure-load-balancer-internal", "true")],
        "gcp" => [new("networking.gke.io/load-balancer-type", "Internal")],
        _ => throw new ArgumentException($"no internal load balancer annotations for cloud '{cloud}'", nameof(cloud)),
    };

    /// <summary>
    /// The gateway's exposure for <paramref name="stack"/>: TLS when both certificate keys are set (the values are the config references
    /// <paramref name="certificate"/> and <paramref name="privateKey"/>, secrets), internal annotations when internalLoadBalancer is true.
    /// A null stack (Pulumi asking for plugins) gives plain HTTP on a public load balancer; the providers are the same.
    /// </summary>
    public static GatewayArgs Of(StackFile? stack, CloudOffering cloud, Expr certificate, Expr privateKey) => new()
    {
        Tls = IsSet(stack, StackConfig.TlsCertificate) && IsSet(stack, StackConfig.TlsPrivateKey) ? new GatewayTls(certificate, privateKey) : null,
        ServiceAnnotations = stack?.Get(StackConfig.InternalLoadBalancer) is StackValue.Plain { Text: var text } && bool.TryParse(text, out var on) && on
            ? InternalAnnotations(cloud.Cloud)
            : [],
    };

    /// <summary>A key holds a value: encrypted, or a non-empty plain one.</summary>
    private static bool IsSet(StackFile? stack, string key) => stack?.Get(key) is StackValue.Secret or StackValue.Plain { Text.Length: > 0 };

    /// <summary>
    /// The certificate and key come as a pair and as secrets; without them the stack must say allowPlainHttp: true (unless it imports a
    /// Pulumi ESC environment, which may hold them).
    /// </summary>
    internal static void Validate(StackFile file, StackConfig.Values values, List<ConfigError> errors)
    {
        var plainHttp = values.Boolean(StackConfig.AllowPlainHttp);
        values.Boolean(StackConfig.InternalLoadBalancer);
        foreach (var key in new[] { StackConfig.TlsCertificate, StackConfig.TlsPrivateKey })
            if (file.Get(key) is StackValue.Plain { Text.Length: > 0 })
                errors.Add(new(key, $"must be a secret, not a plain value in the stack file: set it with 'pulumi config set --secret {key} < file.pem'"));
            else if (file.Get(key) is StackValue.Structured)
                errors.Add(new(key, "must be a single PEM string, not a list or object"));
        var certificate = IsSet(file, StackConfig.TlsCertificate);
        var privateKey = IsSet(file, StackConfig.TlsPrivateKey);
        if (certificate && !privateKey)
            errors.Add(new(StackConfig.TlsPrivateKey, $"is required with {StackConfig.TlsCertificate} (the certificate's PEM private key, a secret)"));
        else if (privateKey && !certificate)
            errors.Add(new(StackConfig.TlsCertificate, $"is required with {StackConfig.TlsPrivateKey} (the PEM certificate chain, a secret)"));
        else if (!certificate && plainHttp != true && !file.ImportsEnvironment)
            errors.Add(new(StackConfig.TlsCertificate, $"the gateway serves HTTPS only: set {StackConfig.TlsCertificate} and {StackConfig.TlsPrivateKey} " +
                $"('pulumi config set --secret {StackConfig.TlsCertificate} < cert.pem'), or set {StackConfig.AllowPlainHttp} to true to serve plain HTTP"));
    }
}
