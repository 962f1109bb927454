// The signed identity nginx adds for the code location (synth_pipelines/intake/identity.py):
// X-Synth-Signature = hex HMAC-SHA256(SYNTH_IDENTITY_SECRET, "synth-identity-v1\n<user>\n<role>"),
// where <user> is the basic-auth user nginx authenticated and <role> the server's $synth_role.
import crypto from 'crypto';

function signature(r) {
    const secret = process.env.SYNTH_IDENTITY_SECRET || '';
    if (!secret || !r.remoteUser) {
        return '';  // no secret: the code location checks nothing; no user: nginx refused the request already
    }
    const message = 'synth-identity-v1\n' + r.remoteUser + '\n' + r.variables.synth_role;
    return crypto.createHmac('sha256', secret).update(message).digest('hex');
}

export default { signature };
