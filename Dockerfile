# CUDA PyTorch image whose torch matches requirements.txt (torch 2.9.1).
FROM pytorch/pytorch:2.9.1-cuda12.8-cudnn9-runtime

WORKDIR /code
COPY requirements.txt /tmp/requirements.txt
RUN pip install --no-cache-dir -r /tmp/requirements.txt

# Results and datasets are mounted at the paths arguments.py expects.
ENV PYTHONUNBUFFERED=1
CMD ["bash"]
