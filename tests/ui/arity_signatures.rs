use symnn::network;

// Arity errors show the signature; in method form the receiver is the first argument.
network! {
    struct Net {
        input x[2];
        target t[3];
        fn scale(u, z[2]) = u * sum(z);
        let a = leaky_relu(x);
        let b = x.leaky_relu();
        let c = x.tanh(0.5);
        let d = dense(x, 3);
        let e = scale(1.0);
        output y = x.dense(3);
        loss = mse(y, t);
    }
}

fn main() {}
